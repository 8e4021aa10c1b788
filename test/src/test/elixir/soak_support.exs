# Shared pieces of the soak client (soak_client.exs, run by SoakIT): counters, calls to a
# manager that may be killed at any moment, the payload pattern and the region header
# check, and the report of invariant violations.
Code.require_file("support.exs", __DIR__)

defmodule Soak.Stats do
  @moduledoc """
  Counters of one soak client BEAM (`:counters`, shared by all its processes). They are
  printed as one `STATS name=value ...` line per second and at the end; the harness sums
  the last line of every client, so a client killed with SIGKILL loses at most a second.
  """

  @names [
    # load
    :allocations, :writes_elixir, :fills_python, :verifies_elixir, :verifies_python,
    :info_checks, :header_checks, :acquires, :releases, :frees, :python_handoffs, :gc_calls,
    # holder processes spawned and killed inside this BEAM
    :holder_spawns, :holder_kills_shared, :holder_kills_sole, :holder_reclaim_ms_max,
    # expected losses
    :lost_node_kill, :lost_worker_kill, :python_ops_interrupted, :python_skips,
    :python_worker_restarts, :lane_restarts_node, :node_reconnects, :busy_retries,
    # invariant violations (all must stay 0)
    :checksum_mismatches, :freed_while_held, :other_violations
  ]

  @spec init() :: :ok
  def init do
    :persistent_term.put({__MODULE__, :ref}, :counters.new(length(@names), [:write_concurrency]))
    :ok
  end

  @spec bump(atom(), integer()) :: :ok
  def bump(name, by \\ 1), do: :counters.add(ref(), index(name), by)

  @doc "Raises counter `name` to `value` if it is lower."
  @spec raise_to(atom(), integer()) :: :ok
  def raise_to(name, value) do
    if value > :counters.get(ref(), index(name)), do: :counters.put(ref(), index(name), value)
    :ok
  end

  @spec line() :: String.t()
  def line do
    fields = Enum.map(@names, fn name -> "#{name}=#{:counters.get(ref(), index(name))}" end)
    Enum.join(["STATS" | fields], " ")
  end

  defp ref, do: :persistent_term.get({__MODULE__, :ref})

  for {name, i} <- Enum.with_index(@names, 1) do
    defp index(unquote(name)), do: unquote(i)
  end
end

defmodule Soak.Manager do
  @moduledoc """
  Calls to the manager that turn its death into a value: `{:reply, term}` or
  `{:down, reason}` (nodedown, noconnection, timeout, ...), never an exit. The
  manager's *incarnation* is its OS pid (`:ping`): a node killed and restarted under the
  same name answers with another pid, which is how a client tells "the node was killed"
  from "the node freed a region it should not have".
  """

  @call_timeout_ms 10_000
  @ping_timeout_ms 3_000

  @spec call(node(), term(), timeout()) :: {:reply, term()} | {:down, term()}
  def call(node, request, timeout_ms \\ @call_timeout_ms) do
    {:reply, GenServer.call({:snakepit_shm, node}, request, timeout_ms)}
  catch
    :exit, {reason, {GenServer, :call, _}} -> {:down, reason}
    :exit, reason -> {:down, reason}
  end

  @doc "The manager's OS pid, or `{:down, reason}`."
  @spec incarnation(node()) :: {:ok, pos_integer()} | {:down, term()}
  def incarnation(node) do
    case call(node, :ping, @ping_timeout_ms) do
      {:reply, {:ok, %{pid: pid}}} -> {:ok, pid}
      {:reply, other} -> {:down, {:bad_ping, other}}
      down -> down
    end
  end

  @doc """
  Waits (connecting again and again) until the manager answers `:ping`; returns its
  incarnation, or `:stop` when a `:stop` message arrives meanwhile (it is consumed), or
  `{:gave_up, reason}` after `limit_ms`.
  """
  @spec await_up(node(), non_neg_integer()) :: {:ok, pos_integer()} | :stop | {:gave_up, term()}
  def await_up(node, limit_ms) do
    await_up(node, System.monotonic_time(:millisecond) + limit_ms, :never_tried)
  end

  defp await_up(node, deadline_ms, last) do
    Node.connect(node)

    case incarnation(node) do
      {:ok, pid} ->
        {:ok, pid}

      {:down, reason} ->
        if System.monotonic_time(:millisecond) > deadline_ms do
          {:gave_up, reason || last}
        else
          receive do
            :stop -> :stop
          after
            100 -> await_up(node, deadline_ms, reason)
          end
        end
    end
  end
end

defmodule Soak.Pattern do
  @moduledoc """
  The payload a writer puts in version V of a region, the same bytes as
  `pattern()` in test/src/test/python/soak_worker.py: a 4096-byte unit of SHA-256 blocks
  of `snakepit-soak|ID|GEN|V` followed by the block number (u32 little-endian), repeated
  to the region's size. Plus raw reads and writes of payload and region header with
  `:file.pread`/`:file.pwrite` (errors returned, never raised).
  """
  import Bitwise

  @unit_blocks 128

  @spec bytes(String.t(), integer(), integer(), non_neg_integer()) :: binary()
  def bytes(id, generation, version, size_bytes) do
    seed = "snakepit-soak|#{id}|#{generation}|#{version}"
    unit = for i <- 0..(@unit_blocks - 1), into: <<>>, do: :crypto.hash(:sha256, seed <> <<i::little-32>>)
    binary_part(:binary.copy(unit, div(size_bytes, byte_size(unit)) + 1), 0, size_bytes)
  end

  @spec write(map(), binary()) :: :ok | {:error, term()}
  def write(%{path: path, offset: offset}, bytes) do
    with_file(path, [:read, :write], &:file.pwrite(&1, offset, bytes))
  end

  @spec read(map()) :: {:ok, binary()} | {:error, term()}
  def read(%{path: path, offset: offset, size: size}) do
    with_file(path, [:read], fn file ->
      case :file.pread(file, offset, size) do
        {:ok, bytes} when byte_size(bytes) == size -> {:ok, bytes}
        {:ok, bytes} -> {:error, {:short_read, byte_size(bytes), size}}
        :eof -> {:error, :eof}
        error -> error
      end
    end)
  end

  @doc """
  Reads the region header (MEMORY_LAYOUT.md) in front of the payload and checks it names
  this live region: magic `SNKR`, state 1 (live), the descriptor's id, generation, size and
  offset.
  """
  @spec check_header(map()) :: :ok | {:bad, String.t()}
  def check_header(%{path: path, offset: offset, size: size, id: id, generation: generation}) do
    read = with_file(path, [:read], &:file.pread(&1, offset - 64, 64))
    expected_id = String.to_integer(id, 16)

    case read do
      {:ok, <<"SNKR", _layout::little-16, 1::little-16, ^expected_id::little-64,
              ^generation::little-64, ^size::little-64, ^offset::little-64, _rest::binary>>} ->
        :ok

      {:ok, <<magic::binary-4, _layout::little-16, state::little-16, rid::little-64, gen::little-64,
              psize::little-64, poff::little-64, _rest::binary>>} ->
        {:bad, "region header magic=#{inspect(magic)} state=#{state} id=#{hex(rid)} " <>
                 "generation=#{gen} size=#{psize} offset=#{poff}"}

      other ->
        {:bad, "region header unreadable: #{inspect(other)}"}
    end
  end

  @doc "First offset where two binaries of equal size differ (nil if equal)."
  @spec first_difference(binary(), binary()) :: non_neg_integer() | nil
  def first_difference(a, b), do: first_difference(a, b, 0)

  defp first_difference(<<x, a::binary>>, <<x, b::binary>>, i), do: first_difference(a, b, i + 1)
  defp first_difference(<<_, _::binary>>, <<_, _::binary>>, i), do: i
  defp first_difference(_, _, _), do: nil

  defp hex(n), do: n |> band(0xFFFFFFFFFFFFFFFF) |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(16, "0")

  defp with_file(path, modes, fun) do
    case :file.open(path, [:binary, :raw | modes]) do
      {:ok, file} ->
        try do
          fun.(file)
        after
          :file.close(file)
        end

      error ->
        error
    end
  end
end

defmodule Soak.Os do
  @moduledoc "OS process liveness, as the manager sees it (/proc; a zombie is dead)."

  @spec alive?(pos_integer()) :: boolean()
  def alive?(os_pid) do
    case File.read("/proc/#{os_pid}/stat") do
      {:ok, stat} ->
        case String.split(stat, ") ", parts: 2) do
          [_name, fields] -> not String.starts_with?(fields, ["Z", "X"])
          _ -> true
        end

      {:error, _} ->
        false
    end
  end
end

defmodule Soak.Report do
  @moduledoc """
  Invariant violations: one `VIOLATION kind=K client=C lane=L detail` line on stdout each
  (printed at once, so a client killed later still leaves it), counted in Soak.Stats.
  """

  @spec violation(atom(), map(), String.t()) :: :ok
  def violation(kind, ctx, detail) do
    counter =
      case kind do
        :checksum_mismatch -> :checksum_mismatches
        :freed_while_held -> :freed_while_held
        _ -> :other_violations
      end

    Soak.Stats.bump(counter)
    IO.puts("VIOLATION kind=#{kind} client=#{ctx[:client]} lane=#{ctx[:lane]} #{flat(detail)}")
  end

  @spec flat(String.t()) :: String.t()
  def flat(text), do: text |> String.split() |> Enum.join(" ")
end
