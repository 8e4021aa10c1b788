# Shared helpers of the end-to-end scenario scripts.
#
# A scenario runs as `elixir --sname NAME --cookie COOKIE SCENARIO.exs NODE [ARG...]`,
# started by the Java harness (io.snakepit.shm.e2e.E2eHarness). It talks to the manager
# with plain GenServer.call (no dependency on the SnakepitShm client module), prints
# results as `KEY=VALUE` lines on stdout, and exits non-zero on a failed expectation.
defmodule E2E do
  @call_timeout_ms 10_000

  @doc "The manager node (first argument) and the remaining arguments."
  @spec args() :: {node(), [String.t()]}
  def args do
    case System.argv() do
      [node_name | rest] -> {String.to_atom(node_name), rest}
      [] -> fail!("usage: SCENARIO.exs NODE [ARG...]")
    end
  end

  @doc "Connects to the manager node; fails the scenario if it cannot."
  @spec connect!(node()) :: :ok
  def connect!(node) do
    if Node.connect(node) != true, do: fail!("cannot connect to #{node} (cookie? epmd?)")
    :ok
  end

  @doc "GenServer.call to the manager's registered process."
  @spec call(node(), term(), timeout()) :: term()
  def call(node, request, timeout_ms \\ @call_timeout_ms) do
    GenServer.call({:snakepit_shm, node}, request, timeout_ms)
  end

  @doc "Like call/3 but the reply must be `{:ok, value}`; returns value."
  @spec ok!(node(), term()) :: term()
  def ok!(node, request) do
    case call(node, request) do
      {:ok, value} -> value
      :ok -> :ok
      other -> fail!("#{inspect(request, limit: 20)} replied #{inspect(other)}")
    end
  end

  @doc "Prints one `KEY=VALUE` result line."
  @spec emit(String.t(), term()) :: :ok
  def emit(key, value) when is_binary(value), do: IO.puts("#{key}=#{value}")
  def emit(key, value) when is_atom(value), do: emit(key, Atom.to_string(value))
  def emit(key, value) when is_integer(value), do: emit(key, Integer.to_string(value))
  def emit(key, value), do: emit(key, inspect(value, limit: 50))

  @doc "Prints a reason on stderr and ends the script with status 1."
  @spec fail!(String.t()) :: no_return()
  def fail!(reason) do
    IO.puts(:stderr, "scenario failed: #{reason}")
    System.halt(1)
  end

  @doc "Fails the scenario unless `condition` holds."
  @spec check!(boolean(), String.t()) :: :ok
  def check!(true, _reason), do: :ok
  def check!(_, reason), do: fail!(reason)

  @doc "Waits for one line on stdin (a go-ahead from the harness); returns it trimmed."
  @spec await_line!() :: String.t()
  def await_line! do
    case IO.gets("") do
      line when is_binary(line) -> String.trim(line)
      other -> fail!("stdin closed while waiting for the harness: #{inspect(other)}")
    end
  end

  @doc "Lowercase hex SHA-256 of a binary."
  @spec sha256(binary()) :: String.t()
  def sha256(bytes), do: :crypto.hash(:sha256, bytes) |> Base.encode16(case: :lower)

  @doc "Writes `bytes` at the descriptor's payload offset (the file is not truncated)."
  @spec pwrite!(map(), binary()) :: :ok
  def pwrite!(%{path: path, offset: offset, size: size}, bytes) when byte_size(bytes) <= size do
    {:ok, file} = :file.open(path, [:read, :write, :binary, :raw])
    try do
      :ok = :file.pwrite(file, offset, bytes)
    after
      :file.close(file)
    end
  end

  @doc "Reads the whole payload of a descriptor."
  @spec pread!(map()) :: binary()
  def pread!(%{path: path, offset: offset, size: size}) do
    {:ok, file} = :file.open(path, [:read, :binary, :raw])
    try do
      {:ok, bytes} = :file.pread(file, offset, size)
      check!(byte_size(bytes) == size, "short read: #{byte_size(bytes)} of #{size} bytes")
      bytes
    after
      :file.close(file)
    end
  end

  @doc "Polls `{:info, id}` until it is `:not_found`; returns the elapsed ms or fails."
  @spec await_not_found!(node(), String.t(), integer(), integer()) :: integer()
  def await_not_found!(node, id, started_ms, limit_ms) do
    case call(node, {:info, id}) do
      {:error, %{code: :not_found}} ->
        System.monotonic_time(:millisecond) - started_ms

      {:ok, _info} ->
        elapsed_ms = System.monotonic_time(:millisecond) - started_ms
        check!(elapsed_ms <= limit_ms, "region #{id} still there after #{elapsed_ms} ms")
        Process.sleep(5)
        await_not_found!(node, id, started_ms, limit_ms)

      other ->
        fail!("{:info, #{inspect(id)}} replied #{inspect(other)}")
    end
  end

  @doc "Minimal JSON for descriptors: maps with atom/binary keys, binaries, integers, atoms."
  @spec json(term()) :: String.t()
  def json(map) when is_map(map) do
    fields = Enum.map(map, fn {key, value} -> json(to_string(key)) <> ":" <> json(value) end)
    "{" <> Enum.join(fields, ",") <> "}"
  end

  def json(nil), do: "null"
  def json(true), do: "true"
  def json(false), do: "false"
  def json(atom) when is_atom(atom), do: json(Atom.to_string(atom))
  def json(int) when is_integer(int), do: Integer.to_string(int)

  def json(text) when is_binary(text) do
    escaped =
      for <<char::utf8 <- text>>, into: "" do
        case char do
          ?" -> "\\\""
          ?\\ -> "\\\\"
          c when c < 0x20 -> "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")
          c -> <<c::utf8>>
        end
      end

    "\"" <> escaped <> "\""
  end
end
