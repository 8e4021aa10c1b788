defmodule Mix.Tasks.SnakepitShm.ClusterDemo do
  @shortdoc "Shows one snakepit-shm manager per host serving a cluster of two BEAM nodes"

  @moduledoc """
  Runs the scale-out demo of docs/SCALE_OUT.md on this machine:

      mix snakepit_shm.cluster_demo [--size-mib N] [--chunk-mib N,N,...] [--launcher PATH]

  It starts two managers that act as two hosts (host ids `host-a` and `host-b`, each
  with its own shm dir) and two BEAM nodes (`:peer`, separate OS processes, with
  `SNAKEPIT_SHM_HOST_ID` set to `host-a` and `host-b`). Each BEAM picks the manager of its
  own host with `SnakepitShm.Cluster.local_manager/1`. BEAM-A allocates and fills a region
  and sends the descriptor to BEAM-B; BEAM-B's `SnakepitShm.Cluster.acquire/2` refuses it
  (`:not_found`, reason `:other_host`); `SnakepitShm.Cluster.copy_to_local/2` then copies
  it to BEAM-B's manager once per chunk size, and the copies' sha256 must equal
  BEAM-A's. The copy throughput is printed. Everything is stopped and both shm dirs must
  be empty.

  Options:

    * `--size-mib N` — size of the region (default 64)
    * `--chunk-mib N,N,...` — chunk sizes of the copies, each 1 to 64 (default 4,16,64)
    * `--launcher PATH` — the managers' launcher (default: `SNAKEPIT_SHM_LAUNCHER`, else
      `../java_node/bin/snakepit-shm`)

  Exits 0 when every check passed; otherwise prints what failed and exits 1.
  """

  use Mix.Task

  @switches [size_mib: :integer, chunk_mib: :string, launcher: :string]
  @usage "mix snakepit_shm.cluster_demo [--size-mib N] [--chunk-mib N,N,...] [--launcher PATH]"

  @impl Mix.Task
  @spec run([String.t()]) :: :ok
  def run(argv) do
    opts = parse!(argv)
    Mix.Task.run("compile")
    {:ok, _} = Application.ensure_all_started(:crypto)

    case SnakepitShm.Cluster.Demo.run(opts) do
      :ok -> :ok
      {:error, message} -> Mix.raise("snakepit_shm.cluster_demo failed: " <> message)
    end
  end

  @spec parse!([String.t()]) :: keyword()
  defp parse!(argv) do
    case OptionParser.parse(argv, strict: @switches) do
      {opts, [], []} ->
        mib = 1024 * 1024
        size_mib = Keyword.get(opts, :size_mib, 64)

        if size_mib <= 0,
          do: Mix.raise("--size-mib must be a positive integer; usage: " <> @usage)

        [size_bytes: size_mib * mib, launcher: opts[:launcher]]
        |> Keyword.put(:chunk_sizes, Enum.map(chunks!(opts[:chunk_mib]), &(&1 * mib)))
        |> Enum.reject(fn {_key, value} -> is_nil(value) end)

      {_opts, rest, invalid} ->
        bad = Enum.map(invalid, fn {flag, _value} -> flag end) ++ rest

        Mix.raise(
          "snakepit_shm.cluster_demo: unexpected arguments #{Enum.join(bad, " ")}; usage: " <>
            @usage
        )
    end
  end

  @spec chunks!(String.t() | nil) :: [pos_integer()]
  defp chunks!(nil), do: [4, 16, 64]

  defp chunks!(text) do
    Enum.map(String.split(text, ","), fn part ->
      case Integer.parse(String.trim(part)) do
        {n, ""} when n in 1..64 ->
          n

        _ ->
          Mix.raise(
            "--chunk-mib takes sizes from 1 to 64 separated by commas, got #{inspect(text)}"
          )
      end
    end)
  end
end
