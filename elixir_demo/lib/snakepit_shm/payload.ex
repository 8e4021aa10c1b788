defmodule SnakepitShm.Payload do
  @moduledoc """
  Reads and writes a region's payload through its descriptor, bounds-checked.

  The payload is `size` bytes at `offset` in the file at `path` (CONTRACT section 3).
  Every access is checked against `[0, size)` before the file is touched, uses
  `:file.pread/3` / `:file.pwrite/3` on a raw file at `offset + offset_in_payload`, and
  closes the file again. Bytes outside the payload belong to other regions or to the
  segment's headers and are never read or written here.

  `:file.open/2` with `:write` creates a missing file; a write to a region that was
  deallocated meanwhile would leave an empty file in the shm dir. The file's size is
  therefore checked after opening: a file too small to hold the payload is not a live
  segment, and one that is empty (so created by this very open) is removed again.

  ## Linux only

  Segments are files only on Linux. On macOS they are POSIX shared-memory objects and on
  Windows named sections (docs/PLATFORMS.md): the descriptor's `path` names no file, and
  the BEAM has neither `shm_open` nor `MapViewOfFile`. On any OS other than Linux
  (`:os.type/0` other than `{:unix, :linux}`) `write/4` and `read/4` therefore touch
  nothing and return a `:platform_error` whose remediation is to go through the node
  (`SnakepitShm.write_consistent/5`, `SnakepitShm.read_consistent/5`); see
  `check_direct_access/1`. Their `os_type:` option stands in for `:os.type/0` (tests).
  """

  alias SnakepitShm.Error

  @typedoc "An operating system as `:os.type/0` names it, e.g. `{:unix, :linux}`."
  @type os_type :: {:unix | :win32, atom()}

  @typedoc "`os_type:` stands in for `:os.type/0` (default: this system)."
  @type opts :: [os_type: os_type()]

  @direct_access_remediation "use write_consistent/5 and read_consistent/5, which go through the node"

  @typedoc "A region descriptor as the node returns it (CONTRACT section 3)."
  @type descriptor :: %{
          required(:id) => String.t(),
          required(:path) => String.t(),
          required(:offset) => non_neg_integer(),
          required(:size) => non_neg_integer(),
          required(:access) => :read_write | :read_only,
          optional(atom()) => term()
        }

  @doc """
  Writes `data` at `offset_in_payload` bytes into the region's payload.

  Returns `:ok`; `{:error, %{code: :invalid_request}}` when the bytes do not fit in the
  payload (nothing is written); `{:error, %{code: :forbidden}}` for a `:read_only`
  descriptor; `{:error, %{code: :not_found}}` when the segment file is gone;
  `{:error, %{code: :platform_error}}` on an OS other than Linux (see the module doc).
  """
  @spec write(descriptor(), integer(), iodata(), opts()) :: :ok | {:error, Error.t()}
  def write(descriptor, offset_in_payload, data, opts \\ []) do
    with :ok <- check_descriptor(descriptor),
         :ok <- check_direct_access(os_type(opts)),
         :ok <- check_writable(descriptor),
         {:ok, length} <- iodata_length(data),
         :ok <- check_bounds(descriptor, offset_in_payload, length) do
      with_file(descriptor, [:read, :write, :binary, :raw], fn file ->
        :file.pwrite(file, descriptor.offset + offset_in_payload, data)
      end)
    end
  end

  @doc """
  Reads `length` bytes at `offset_in_payload` bytes into the region's payload.

  Returns `{:ok, binary}` of exactly `length` bytes, or an error as for `write/4`
  (read-only descriptors may be read).
  """
  @spec read(descriptor(), integer(), integer(), opts()) ::
          {:ok, binary()} | {:error, Error.t()}
  def read(descriptor, offset_in_payload, length, opts \\ []) do
    with :ok <- check_descriptor(descriptor),
         :ok <- check_direct_access(os_type(opts)),
         :ok <- check_length(length),
         :ok <- check_bounds(descriptor, offset_in_payload, length) do
      with_file(descriptor, [:read, :binary, :raw], fn file ->
        read_exactly(file, descriptor.offset + offset_in_payload, length)
      end)
    end
  end

  @doc """
  `:ok` when payloads can be reached through the segment file at the descriptor's `path`
  on `os_type` (default: this system's `:os.type/0`): on Linux only. Elsewhere
  `{:error, %SnakepitShm.Error{code: :platform_error}}` saying why, with the remediation
  to go through the node; `details.os_type` is the OS.

      iex> SnakepitShm.Payload.check_direct_access({:unix, :linux})
      :ok
      iex> {:error, error} = SnakepitShm.Payload.check_direct_access({:win32, :nt})
      iex> {error.code, error.remediation}
      {:platform_error, "use write_consistent/5 and read_consistent/5, which go through the node"}
  """
  @spec check_direct_access(os_type()) :: :ok | {:error, Error.t()}
  def check_direct_access(os_type \\ :os.type())

  def check_direct_access({:unix, :linux}), do: :ok

  def check_direct_access(os_type) do
    Error.new(
      :platform_error,
      "reading or writing a region's payload directly through its segment file is not " <>
        "available on #{os_name(os_type)}: #{no_files(os_type)}",
      @direct_access_remediation,
      %{os_type: os_type}
    )
  end

  @spec os_type(opts()) :: os_type()
  defp os_type(opts) when is_list(opts), do: Keyword.get_lazy(opts, :os_type, &:os.type/0)

  @spec os_name(term()) :: String.t()
  defp os_name({:unix, :darwin}), do: "macOS"
  defp os_name({:win32, _}), do: "Windows"
  defp os_name({_family, name}) when is_atom(name), do: Atom.to_string(name)
  defp os_name(other), do: inspect(other)

  @spec no_files(term()) :: String.t()
  defp no_files({:unix, :darwin}),
    do:
      "segments there are POSIX shared-memory objects, not files, so the descriptor's " <>
        "path does not exist"

  defp no_files({:win32, _}),
    do:
      "segments there are named sections (Local\\snk...), not files, so the descriptor's " <>
        "path does not exist"

  defp no_files(_other),
    do: "snakepit-shm keeps segments as files on Linux only (docs/PLATFORMS.md)"

  @spec read_exactly(:file.io_device(), non_neg_integer(), non_neg_integer()) ::
          {:ok, binary()} | {:error, term()}
  defp read_exactly(_file, _position, 0), do: {:ok, <<>>}

  defp read_exactly(file, position, length) do
    case :file.pread(file, position, length) do
      {:ok, bytes} when byte_size(bytes) == length -> {:ok, bytes}
      {:ok, bytes} -> {:error, {:short_read, byte_size(bytes)}}
      :eof -> {:error, :eof}
      {:error, reason} -> {:error, reason}
    end
  end

  @spec check_descriptor(term()) :: :ok | {:error, Error.t()}
  defp check_descriptor(%{path: path, offset: offset, size: size, access: access})
       when is_binary(path) and is_integer(offset) and offset >= 0 and is_integer(size) and
              size >= 0 and access in [:read_write, :read_only],
       do: :ok

  defp check_descriptor(other) do
    Error.new(
      :invalid_request,
      "not a region descriptor: #{inspect(other, limit: 20)}",
      "pass the descriptor map returned by SnakepitShm.allocate/3 or acquire/3"
    )
  end

  @spec check_writable(descriptor()) :: :ok | {:error, Error.t()}
  defp check_writable(%{access: :read_write}), do: :ok

  defp check_writable(%{id: id}) do
    Error.new(
      :forbidden,
      "region #{id} was acquired read-only; its payload cannot be written",
      "acquire the region with access: :read_write to write it",
      %{id: id}
    )
  end

  @spec iodata_length(term()) :: {:ok, non_neg_integer()} | {:error, Error.t()}
  defp iodata_length(data) do
    {:ok, IO.iodata_length(data)}
  rescue
    ArgumentError ->
      Error.new(
        :invalid_request,
        "data to write is not iodata: #{inspect(data, limit: 20)}",
        "pass a binary or a list of binaries and bytes"
      )
  end

  @spec check_length(term()) :: :ok | {:error, Error.t()}
  defp check_length(length) when is_integer(length) and length >= 0, do: :ok

  defp check_length(length) do
    Error.new(
      :invalid_request,
      "read length must be a non-negative integer, got #{inspect(length)}",
      "pass the number of bytes to read"
    )
  end

  @spec check_bounds(descriptor(), term(), non_neg_integer()) :: :ok | {:error, Error.t()}
  defp check_bounds(%{size: size}, offset, length)
       when is_integer(offset) and offset >= 0 and offset + length <= size,
       do: :ok

  defp check_bounds(%{id: id, size: size}, offset, length) do
    Error.new(
      :invalid_request,
      "bytes [#{inspect(offset)}, #{inspect(offset)} + #{length}) are outside " <>
        "region #{id}'s payload [0, #{size})",
      "keep 0 <= offset_in_payload and offset_in_payload + length <= size (#{size} bytes)",
      %{id: id, size: size, offset: offset, requested: length}
    )
  end

  @spec with_file(descriptor(), [atom()], (:file.io_device() -> term())) ::
          :ok | {:ok, binary()} | {:error, Error.t()}
  defp with_file(descriptor, modes, fun) do
    case :file.open(descriptor.path, modes) do
      {:ok, file} ->
        try do
          with :ok <- check_file_size(file, descriptor) do
            fun.(file) |> to_result(descriptor)
          end
        after
          :file.close(file)
        end

      {:error, :enoent} ->
        gone(descriptor, :enoent)

      {:error, reason} ->
        file_error(descriptor, reason)
    end
  end

  @spec check_file_size(:file.io_device(), descriptor()) :: :ok | {:error, Error.t()}
  defp check_file_size(file, descriptor) do
    case :file.position(file, :eof) do
      {:ok, file_bytes} when file_bytes >= descriptor.offset + descriptor.size ->
        :ok

      {:ok, 0} ->
        # This open created the file: the segment had been unlinked. Remove it again.
        _ = File.rm(descriptor.path)
        gone(descriptor, :enoent)

      {:ok, file_bytes} ->
        Error.new(
          :invalid_region,
          "segment file #{descriptor.path} has #{file_bytes} bytes, too few for " <>
            "region #{descriptor.id} (offset #{descriptor.offset}, size #{descriptor.size})",
          "the descriptor does not match the segment; acquire the region again",
          %{id: descriptor.id, path: descriptor.path}
        )

      {:error, reason} ->
        file_error(descriptor, reason)
    end
  end

  @spec to_result(term(), descriptor()) :: :ok | {:ok, binary()} | {:error, Error.t()}
  defp to_result(:ok, _descriptor), do: :ok
  defp to_result({:ok, bytes}, _descriptor) when is_binary(bytes), do: {:ok, bytes}
  defp to_result({:error, reason}, descriptor), do: file_error(descriptor, reason)

  @spec gone(descriptor(), atom()) :: {:error, Error.t()}
  defp gone(descriptor, errno) do
    Error.new(
      :not_found,
      "segment file #{descriptor.path} of region #{descriptor.id} does not exist",
      "the region was deallocated; hold a reference (allocate/acquire) while using it",
      %{id: descriptor.id, path: descriptor.path, errno: errno}
    )
  end

  @spec file_error(descriptor(), term()) :: {:error, Error.t()}
  defp file_error(descriptor, reason) do
    Error.new(
      :platform_error,
      "accessing #{descriptor.path} for region #{descriptor.id} failed: #{inspect(reason)}",
      "check that this OS user owns the segment (mode 0600) and the shm dir is mounted",
      %{id: descriptor.id, path: descriptor.path, errno: reason}
    )
  end
end
