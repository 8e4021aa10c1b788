# The baseline of the control-path benchmark: a pure-Elixir GenServer doing the node's
# allocate/release bookkeeping (no memory), on its own BEAM node.
#
#   elixir benchmarks/erlang_baseline.exs --name snkbench_RID_erl --cookie-file FILE
#
# Registers `snakepit_shm` like the snakepit-shm node, prints `ready <node>` on stdout and
# serves until stdin closes (then halts). Requests: {:allocate, size, opts},
# {:release, id, opts}, {:allocate_many, sizes, opts}, {:release_many, ids, opts}, :ping.
defmodule Bench.ErlangBaseline do
  @moduledoc """
  Bookkeeping of the snakepit-shm node, in one GenServer:

    * an id per allocation (16 lowercase hex digits, from a counter);
    * a map id → region with its size, reference count and references per holder;
    * a monitor of each holder pid, set when it first holds something and removed
      (demonitor with flush) when it holds nothing any more; a `:DOWN` drops its
      references;
    * a total-bytes counter;
    * replies with a descriptor map of the node's shape (9 keys), so the reply terms
      are the same size on the wire.

  Batch calls are all-or-nothing like the node's: every element is checked first.
  """
  use GenServer

  @max_batch 10_000

  def start_link, do: GenServer.start_link(__MODULE__, nil, name: :snakepit_shm)

  @impl true
  def init(nil), do: {:ok, %{next: 1, regions: %{}, holders: %{}, total_bytes: 0}}

  @impl true
  def handle_call({:allocate, size, opts}, {pid, _tag}, state) do
    with {:ok, opts} <- opts_map(opts),
         :ok <- check_size(size, 0) do
      {descriptor, state} = allocate(size, holder(opts, pid), opts, state)
      {:reply, {:ok, descriptor}, state}
    else
      error -> {:reply, error, state}
    end
  end

  def handle_call({:release, id, opts}, {pid, _tag}, state) do
    with {:ok, opts} <- opts_map(opts),
         holder = holder(opts, pid),
         :ok <- check_release(state, id, holder, 1, 0) do
      {:reply, :ok, release(id, holder, state)}
    else
      error -> {:reply, error, state}
    end
  end

  def handle_call({:allocate_many, sizes, opts}, {pid, _tag}, state) do
    with {:ok, opts} <- opts_map(opts),
         :ok <- check_batch(sizes),
         :ok <- sizes |> Enum.with_index() |> check_all(fn {size, i} -> check_size(size, i) end) do
      holder = holder(opts, pid)

      {descriptors, state} =
        Enum.map_reduce(sizes, state, fn size, acc -> allocate(size, holder, opts, acc) end)

      {:reply, {:ok, descriptors}, state}
    else
      error -> {:reply, error, state}
    end
  end

  def handle_call({:release_many, ids, opts}, {pid, _tag}, state) do
    with {:ok, opts} <- opts_map(opts),
         :ok <- check_batch(ids),
         holder = holder(opts, pid),
         :ok <- check_release_many(state, ids, holder) do
      state = Enum.reduce(ids, state, fn id, acc -> release(id, holder, acc) end)
      {:reply, {:ok, %{released: length(ids)}}, state}
    else
      error -> {:reply, error, state}
    end
  end

  def handle_call(:ping, _from, state),
    do: {:reply, {:ok, %{node: node(), pid: String.to_integer(System.pid())}}, state}

  def handle_call(other, _from, state),
    do: {:reply, error(:invalid_request, "unknown request #{inspect(other, limit: 5)}"), state}

  @impl true
  def handle_info({:DOWN, _ref, :process, pid, _reason}, state) do
    {regions, freed_bytes} =
      Enum.reduce(state.regions, {%{}, 0}, fn {id, region}, {acc, freed} ->
        case Map.pop(region.holders, pid) do
          {nil, _} ->
            {Map.put(acc, id, region), freed}

          {refs, holders} ->
            refcount = region.refcount - refs
            if refcount == 0,
              do: {acc, freed + region.size},
              else: {Map.put(acc, id, %{region | refcount: refcount, holders: holders}), freed}
        end
      end)

    {:noreply,
     %{state | regions: regions, holders: Map.delete(state.holders, pid),
               total_bytes: state.total_bytes - freed_bytes}}
  end

  def handle_info(_other, state), do: {:noreply, state}

  # --- bookkeeping -------------------------------------------------------------------

  defp allocate(size, holder, opts, state) do
    n = state.next
    id = n |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(16, "0")

    descriptor = %{
      id: id,
      generation: n,
      segment: "/snkbaseline0000000000000000",
      path: "/dev/shm/snkbaseline0000000000000000",
      offset: 320,
      size: size,
      access: :read_write,
      tenant: nil,
      session: Map.get(opts, :session)
    }

    region = %{size: size, refcount: 1, holders: %{holder => 1}}

    state = %{state | next: n + 1, regions: Map.put(state.regions, id, region),
                      total_bytes: state.total_bytes + size}

    {descriptor, hold(state, holder)}
  end

  defp release(id, holder, state) do
    region = Map.fetch!(state.regions, id)
    refs = Map.fetch!(region.holders, holder) - 1
    holders = if refs == 0, do: Map.delete(region.holders, holder), else: Map.put(region.holders, holder, refs)
    refcount = region.refcount - 1

    state =
      if refcount == 0,
        do: %{state | regions: Map.delete(state.regions, id), total_bytes: state.total_bytes - region.size},
        else: %{state | regions: Map.put(state.regions, id, %{region | refcount: refcount, holders: holders})}

    unhold(state, holder)
  end

  # A holder pid is monitored while it holds at least one reference.
  defp hold(state, holder) do
    case Map.fetch(state.holders, holder) do
      {:ok, entry} ->
        put_in(state.holders[holder], %{entry | refs: entry.refs + 1})

      :error ->
        ref = if is_pid(holder), do: Process.monitor(holder), else: nil
        put_in(state.holders[holder], %{ref: ref, refs: 1})
    end
  end

  defp unhold(state, holder) do
    entry = Map.fetch!(state.holders, holder)

    if entry.refs == 1 do
      if entry.ref, do: Process.demonitor(entry.ref, [:flush])
      %{state | holders: Map.delete(state.holders, holder)}
    else
      put_in(state.holders[holder], %{entry | refs: entry.refs - 1})
    end
  end

  # --- checks ------------------------------------------------------------------------

  defp opts_map(opts) when is_map(opts), do: {:ok, opts}
  defp opts_map(opts) when is_list(opts), do: {:ok, Map.new(opts)}
  defp opts_map(_), do: error(:invalid_request, "opts must be a map or a keyword list")

  defp holder(opts, caller), do: Map.get(opts, :holder, caller)

  defp check_size(size, _i) when is_integer(size) and size > 0, do: :ok
  defp check_size(_size, i), do: error(:invalid_request, "size must be a positive integer", %{index: i})

  defp check_batch(list) when is_list(list) and list != [] and length(list) <= @max_batch, do: :ok
  defp check_batch(_), do: error(:invalid_request, "a batch is a list of 1 to #{@max_batch} elements")

  defp check_all(enum, fun), do: Enum.find_value(enum, :ok, fn x -> if (r = fun.(x)) != :ok, do: r end)

  defp check_release(state, id, holder, count, index) do
    case Map.fetch(state.regions, id) do
      :error -> error(:not_found, "no region #{inspect(id)}", %{index: index, id: id})
      {:ok, region} ->
        if Map.get(region.holders, holder, 0) >= count,
          do: :ok,
          else: error(:forbidden, "the holder does not hold region #{id}", %{index: index, id: id})
    end
  end

  defp check_release_many(state, ids, holder) do
    ids
    |> Enum.with_index()
    |> Enum.reduce_while(%{}, fn {id, index}, seen ->
      count = Map.get(seen, id, 0) + 1

      case check_release(state, id, holder, count, index) do
        :ok -> {:cont, Map.put(seen, id, count)}
        error -> {:halt, error}
      end
    end)
    |> case do
      %{} -> :ok
      error -> error
    end
  end

  defp error(code, message, extra \\ %{}),
    do: {:error, Map.merge(%{code: code, message: message, remediation: nil}, extra)}
end

{opts, _, _} = OptionParser.parse(System.argv(), strict: [name: :string, cookie_file: :string])
cookie = opts[:cookie_file] |> File.read!() |> String.trim() |> String.to_atom()
{:ok, _} = Node.start(String.to_atom(opts[:name]), :shortnames)
Node.set_cookie(cookie)
{:ok, _} = Bench.ErlangBaseline.start_link()
IO.puts("ready #{node()}")

# Serve until stdin closes (the benchmark closed its Port, or died).
Stream.repeatedly(fn -> IO.read(:stdio, :line) end)
|> Enum.find(fn line -> line == :eof or match?({:error, _}, line) end)

System.halt(0)
