# Both worker profiles of SnakepitShm.Snakepit.Pool, driven through the Snakepit-style
# SessionStore against the harness's node, with real Python workers (python_demo).
#
# Unlike the other scenarios this one uses the elixir_demo client: it compiles
# elixir_demo/lib (in memory, nothing is written) and runs the adapter modules as an
# application would.
#
#   1. Session "e2e-profiles-…" is created; 4 input regions of 64 KiB are allocated in it
#      (one pooled segment) and filled with float64 values from Elixir.
#   2. Thread profile: 1 Python process with --threads 4. 4 concurrent `hold` requests
#      map the 4 regions at once; /proc/PID/maps then shows their segment mapped once
#      (MAPS_LINES). 4 concurrent `contend` requests (1 s each) are in flight together
#      (THREAD_PEAK_LOAD). 4 concurrent `scale` requests write input_k * factor_k with numpy
#      into outputs the pool allocates in the session.
#   3. Process profile: 2 Python processes; 2 concurrent `contend` requests run on both
#      (P_CONTEND_PIDS), then 2 concurrent `scale` requests.
#   Every output is read back in Elixir and compared with the expected floats; the script
#   prints where each input and output lies (IN_k_*, T_OUT_k_*, P_OUT_k_*) and READY=1, and
#   waits for a line on stdin so that the test can read the same bytes from the files.
#   4. Then it ends the session (RELEASED), waits until the node lists none of its regions
#   (SESSION_REGIONS_LEFT), runs :gc, stops both pools (PYTHON_ALIVE_AFTER_STOP) and the
#   store, and prints DONE=1.
#
#   elixir ... worker_profiles.exs NODE
Code.require_file("support.exs", __DIR__)

{node, []} = E2E.args()
E2E.connect!(node)

root = Path.expand("../../../..", __DIR__)
lib = Path.join(root, "elixir_demo/lib")
files = Path.wildcard(Path.join(lib, "**/*.ex")) -- Path.wildcard(Path.join(lib, "mix/**/*.ex"))

case Kernel.ParallelCompiler.compile(files) do
  {:ok, _modules, _warnings} -> :ok
  {:error, errors, _warnings} -> E2E.fail!("elixir_demo/lib does not compile: #{inspect(errors)}")
end

defmodule Profiles do
  alias SnakepitShm.Snakepit.{Pool, SessionStore}

  @region_bytes 65_536
  @values div(@region_bytes, 8)

  def floats(factor),
    do: for(i <- 0..(@values - 1), into: <<>>, do: <<rem(i, 1024) * 0.125 * factor::float-little-64>>)

  def region_bytes, do: @region_bytes

  def ok!({:ok, value}, _what), do: value
  def ok!(:ok, _what), do: :ok
  def ok!(other, what), do: E2E.fail!("#{what}: #{inspect(other, limit: 30)}")

  def concurrently(funs) do
    funs |> Enum.map(&Task.async/1) |> Task.await_many(120_000)
  end

  def pool!(store, opts) do
    ok!(Pool.start_link([name: nil, session_store: store] ++ opts), "Pool.start_link(#{inspect(opts)})")
  end

  def scale!(pool, session, inputs_and_factors, prefix) do
    results =
      concurrently(
        for {input, factor} <- inputs_and_factors do
          fn ->
            Pool.execute_in_session(session, "scale",
              %{input: input, output: {:alloc, @region_bytes}, factor: factor},
              pool: pool, timeout: 60_000)
          end
        end
      )

    for {{result, {_input, factor}}, k} <- Enum.with_index(Enum.zip(results, inputs_and_factors), 1) do
      result = ok!(result, "#{prefix} scale #{k}")
      output = result.regions.output
      bytes = ok!(SnakepitShm.read(output, 0, @region_bytes), "read #{prefix} output #{k}")
      E2E.check!(bytes == floats(k * factor), "#{prefix} output #{k} differs from input * #{factor}")
      E2E.check!(result.fields["sha256"] == E2E.sha256(bytes), "#{prefix} output #{k}: sha256 differs")
      E2E.check!(output.session == session, "#{prefix} output #{k} is not in the session")
      E2E.emit("#{prefix}_OUT_#{k}_PATH", output.path)
      E2E.emit("#{prefix}_OUT_#{k}_OFFSET", output.offset)
      E2E.emit("#{prefix}_OUT_#{k}_SIZE", output.size)
      E2E.emit("#{prefix}_OUT_#{k}_FACTOR", Float.to_string(factor))
      E2E.emit("#{prefix}_OUT_#{k}_INPUT", k)
      E2E.emit("#{prefix}_OUT_#{k}_SHA256", result.fields["sha256"])
      E2E.emit("#{prefix}_OUT_#{k}_PID", result.python_pid)
      output
    end
  end

  def contend(region), do: %{region: region, role: "reader", seconds: 1.0, words: 4}

  def await_empty!(node, session, started) do
    case SnakepitShm.list(node, session: session) do
      {:ok, []} ->
        System.monotonic_time(:millisecond) - started

      {:ok, left} ->
        if System.monotonic_time(:millisecond) - started > 10_000,
          do: E2E.fail!("#{length(left)} regions of #{session} still listed after 10 s")

        Process.sleep(5)
        await_empty!(node, session, started)

      other ->
        E2E.fail!("list: #{inspect(other)}")
    end
  end

  def stop(pid) do
    GenServer.stop(pid, :normal, 60_000)
  catch
    :exit, _ -> :ok
  end
end

alias SnakepitShm.OsProcess
alias SnakepitShm.Snakepit.{Pool, SessionStore}

store = Profiles.ok!(SessionStore.start_link(server: node, name: nil), "SessionStore.start_link")
session = "e2e-profiles-" <> Base.encode16(:crypto.strong_rand_bytes(4), case: :lower)
Profiles.ok!(SessionStore.create_session(store, session, []), "create_session")
E2E.emit("SESSION", session)

# 1. Inputs --------------------------------------------------------------------------------
inputs =
  for k <- 1..4 do
    region = Profiles.ok!(SessionStore.allocate_in_session(store, session, Profiles.region_bytes(), []), "allocate input #{k}")
    :ok = Profiles.ok!(SnakepitShm.write(region, 0, Profiles.floats(k)), "write input #{k}")
    E2E.emit("IN_#{k}_PATH", region.path)
    E2E.emit("IN_#{k}_OFFSET", region.offset)
    E2E.emit("IN_#{k}_SIZE", region.size)
    region
  end

segments = inputs |> Enum.map(& &1.path) |> Enum.uniq()
E2E.emit("INPUT_SEGMENTS", length(segments))

# 2. Thread profile ---------------------------------------------------------------------------
tpool = Profiles.pool!(store, pool_size: 1, worker_profile: :thread, threads_per_worker: 4)
[tinfo] = Pool.worker_info(tpool)
E2E.emit("THREAD_PID", tinfo.python_pid)
E2E.emit("THREAD_THREADS", tinfo.threads)

holds =
  Profiles.concurrently(
    for region <- inputs, do: fn -> Pool.execute("hold", %{region: region}, pool: tpool) end
  )

Enum.each(holds, &Profiles.ok!(&1, "hold"))
maps = File.read!("/proc/#{tinfo.python_pid}/maps") |> String.split("\n")
segment_path = hd(segments)
E2E.emit("MAPS_LINES", Enum.count(maps, &String.ends_with?(&1, segment_path)))
released = Profiles.ok!(Pool.execute("release_held", %{}, pool: tpool), "release_held")
E2E.emit("HELD_CLOSED", released.fields["closed"])

contended =
  Profiles.concurrently(
    for region <- inputs,
        do: fn -> Pool.execute_in_session(session, "contend", Profiles.contend(region), pool: tpool) end
  )

# (The inputs hold different floats, so a reader's "torn" count is not meaningful here:
# contend only keeps 4 requests in flight for a second.)
Enum.each(contended, &Profiles.ok!(&1, "contend"))

[%{peak_load: peak}] = Pool.worker_info(tpool)
E2E.emit("THREAD_PEAK_LOAD", peak)

thread_outputs = Profiles.scale!(tpool, session, Enum.zip(inputs, [0.5, 1.5, 3.0, 4.0]), "T")
[%{restarts: thread_restarts, errors: thread_errors}] = Pool.worker_info(tpool)
E2E.emit("THREAD_RESTARTS", thread_restarts)
E2E.emit("THREAD_ERRORS", thread_errors)

# 3. Process profile --------------------------------------------------------------------------
ppool = Profiles.pool!(store, pool_size: 2, worker_profile: :process)
pinfo = Pool.worker_info(ppool)
E2E.emit("PROCESS_PIDS", Enum.map_join(pinfo, ",", &Integer.to_string(&1.python_pid)))

contend_pids =
  Profiles.concurrently(
    for region <- Enum.take(inputs, 2),
        do: fn -> Pool.execute_in_session(session, "contend", Profiles.contend(region), pool: ppool) end
  )
  |> Enum.map(&Profiles.ok!(&1, "process contend").python_pid)

E2E.emit("P_CONTEND_PIDS", contend_pids |> Enum.sort() |> Enum.map_join(",", &Integer.to_string/1))

process_outputs = Profiles.scale!(ppool, session, Enum.zip(Enum.take(inputs, 2), [-2.0, 0.25]), "P")

listed = Profiles.ok!(SessionStore.session_regions(store, session), "session_regions")
E2E.emit("SESSION_REGIONS", length(listed))
E2E.emit("READY", 1)

# 4. The end of the session --------------------------------------------------------------------
E2E.await_line!()
started = System.monotonic_time(:millisecond)
ended = Profiles.ok!(SessionStore.end_session(store, session), "end_session")
E2E.emit("RELEASED", ended.released)
E2E.emit("GONE_MS", Profiles.await_empty!(node, session, started))
E2E.emit("SESSION_REGIONS_LEFT", length(Profiles.ok!(SnakepitShm.list(node, session: session), "list")))
gc = Profiles.ok!(SnakepitShm.gc(node), "gc")
E2E.emit("GC_SEGMENTS_RELEASED", gc.segments_released)

python_pids = [tinfo.python_pid | Enum.map(pinfo, & &1.python_pid)]
Profiles.stop(tpool)
Profiles.stop(ppool)
E2E.emit("PYTHON_ALIVE_AFTER_STOP", Enum.count(python_pids, &OsProcess.alive?/1))
E2E.emit("STORE_SESSIONS", length(SessionStore.list_sessions(store)))
Profiles.stop(store)
_ = {thread_outputs, process_outputs}
E2E.emit("DONE", 1)
