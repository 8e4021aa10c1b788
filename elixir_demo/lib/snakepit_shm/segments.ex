defmodule SnakepitShm.Segments do
  @moduledoc """
  Lists snakepit-shm segment files in a shm dir and tells which node made each one,
  from the segment header (docs/MEMORY_LAYOUT.md: magic `SNKSEG01` at byte 0, node
  name in 128 NUL-padded bytes at byte 80). Used to show that nothing was left behind.
  """

  @prefix "snk"
  @magic "SNKSEG01"
  @node_name_offset 80
  @node_name_bytes 128

  @typedoc "A segment file: its path and the node named in its header (nil if unreadable)."
  @type entry :: %{path: Path.t(), node: String.t() | nil}

  @doc "The files in `shm_dir` whose names start with `snk` (not directories)."
  @spec list(Path.t()) :: [entry()]
  def list(shm_dir) do
    case File.ls(shm_dir) do
      {:ok, names} ->
        names
        |> Enum.filter(&String.starts_with?(&1, @prefix))
        |> Enum.map(&Path.join(shm_dir, &1))
        |> Enum.filter(&File.regular?/1)
        |> Enum.sort()
        |> Enum.map(&%{path: &1, node: owner_node(&1)})

      {:error, _} ->
        []
    end
  end

  @doc "The node name in the header of the segment file at `path`, or nil."
  @spec owner_node(Path.t()) :: String.t() | nil
  def owner_node(path) do
    with {:ok, file} <- :file.open(path, [:read, :binary, :raw]),
         {:ok, header} <- read_header(file) do
      parse_node_name(header)
    else
      _ -> nil
    end
  end

  @spec read_header(:file.io_device()) :: {:ok, binary()} | :eof | {:error, term()}
  defp read_header(file) do
    :file.pread(file, 0, @node_name_offset + @node_name_bytes)
  after
    :file.close(file)
  end

  @spec parse_node_name(binary()) :: String.t() | nil
  defp parse_node_name(
         <<@magic, _::binary-size(@node_name_offset - 8), name::binary-size(@node_name_bytes)>>
       ) do
    name |> :binary.split(<<0>>) |> hd()
  end

  defp parse_node_name(_header), do: nil
end
