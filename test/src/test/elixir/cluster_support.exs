# Helpers of the two-host scenarios (ScaleOutIT): the manager of this BEAM's host, and
# the same host check and copy that SnakepitShm.Cluster makes, with plain calls.
Code.require_file("support.exs", __DIR__)

defmodule E2E.Cluster do
  @doc "Pings every manager; returns [{node, host_id | nil}] in order."
  @spec hosts([node()]) :: [{node(), String.t() | nil}]
  def hosts(managers) do
    for manager <- managers do
      case E2E.call(manager, :ping) do
        {:ok, %{host: %{id: id}}} when is_binary(id) -> {manager, id}
        _other -> {manager, nil}
      end
    end
  end

  @doc "The first manager whose :ping reports `host_id`; fails the scenario when none does."
  @spec manager_of!([node()], String.t()) :: node()
  def manager_of!(managers, host_id) do
    seen = hosts(managers)

    case Enum.find(seen, fn {_node, id} -> id == host_id end) do
      {node, _id} -> node
      nil -> E2E.fail!("no manager of host #{host_id} among #{inspect(seen)}")
    end
  end

  @doc "Connects to every manager (they share this BEAM's cookie)."
  @spec connect_all!([node()]) :: :ok
  def connect_all!(managers), do: Enum.each(managers, &E2E.connect!/1)

  @doc "SHA-256 (hex) of a local descriptor's payload, read 8 MiB at a time."
  @spec sha256_of!(map()) :: String.t()
  def sha256_of!(%{path: path, offset: offset, size: size}) do
    {:ok, file} = :file.open(path, [:read, :binary, :raw])

    try do
      chunk = 8 * 1024 * 1024

      0..(size - 1)//chunk
      |> Enum.reduce(:crypto.hash_init(:sha256), fn at, hash ->
        {:ok, bytes} = :file.pread(file, offset + at, min(chunk, size - at))
        :crypto.hash_update(hash, bytes)
      end)
      |> :crypto.hash_final()
      |> Base.encode16(case: :lower)
    after
      :file.close(file)
    end
  end
end
