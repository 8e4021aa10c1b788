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
  """

  alias SnakepitShm.Error

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
  descriptor; `{:error, %{code: :not_found}}` when the segment file is gone.
  """
  @spec write(descriptor(), integer(), iodata()) :: :ok | {:error, Error.t()}
  def write(descriptor, offset_in_payload, data) do
    with :ok <- check_descriptor(descriptor),
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

  Returns `{:ok, binary}` of exactly `length` bytes, or an error as for `write/3`
  (read-only descriptors may be read).
  """
  @spec read(descriptor(), integer(), integer()) :: {:ok, binary()} | {:error, Error.t()}
  def read(descriptor, offset_in_payload, length) do
    with :ok <- check_descriptor(descriptor),
         :ok <- check_length(length),
         :ok <- check_bounds(descriptor, offset_in_payload, length) do
      with_file(descriptor, [:read, :binary, :raw], fn file ->
        read_exactly(file, descriptor.offset + offset_in_payload, length)
      end)
    end
  end

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
