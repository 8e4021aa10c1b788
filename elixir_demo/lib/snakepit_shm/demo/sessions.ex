defmodule SnakepitShm.Demo.Sessions do
  @moduledoc """
  Steps (g)–(j) of `mix snakepit_shm.demo`: the Snakepit integration end to end.

    * (g) a session is created through `SnakepitShm.Snakepit.SessionStore` (shaped like
      Snakepit's `Snakepit.Bridge.SessionStore`) and an input region is allocated in it
      and filled from Elixir;
    * (h) a `:process` pool (two Python processes) runs two `scale` requests at once
      with `execute_in_session/4`: numpy writes `input * factor` in place into output
      regions the pool allocated in the session (`{:alloc, size}`), and Elixir reads
      them back through shared memory;
    * (i) a `:thread` pool (one Python process, four threads) does the same with four
      concurrent requests;
    * (j) ending the session frees every region of it: the node's list for the session
      is empty, and their segment files are gone from the shm dir.

  The store and the pools are stopped whatever happens; a failed check is
  `{:error, message}`.
  """

  alias SnakepitShm.OsProcess
  alias SnakepitShm.Demo.{Floats, Say}
  alias SnakepitShm.Snakepit.{Pool, Result, SessionStore}

  import SnakepitShm.Demo.Say, only: [expect: 2, check: 2, line: 1, timed: 1, duration: 1]

  @process_factors [2.5, -1.0]
  @thread_factors [0.5, 1.5, 3.0, 4.0]
  @threads 4
  @poll_interval_ms 5
  @gone_deadline_ms 10_000
  @request_timeout_ms 60_000

  @doc "Runs steps (g) to (j); returns `{:ok, context}` or `{:error, message}`."
  @spec run(map()) :: {:ok, map()} | {:error, String.t()}
  def run(%{server: server} = context) do
    Say.step("g", "A Snakepit-style session: SessionStore.create_session/2 and regions in it")

    case SessionStore.start_link(server: server, name: nil) do
      {:ok, store} ->
        line(
          "SessionStore #{inspect(store)} started for #{server} " <>
            "(Snakepit.Bridge.SessionStore's API; regions are held by the store)"
        )

        try do
          with {:ok, session} <- create_session(context, store),
               {:ok, session} <- process_profile(context, store, session),
               {:ok, session} <- thread_profile(context, store, session),
               :ok <- end_session(context, store, session) do
            {:ok, context}
          end
        after
          stop(store)
        end

      {:error, error} ->
        expect({:error, error}, "starting the session store")
    end
  end

  # (g) ------------------------------------------------------------------------------

  @spec create_session(map(), pid()) :: {:ok, map()} | {:error, String.t()}
  defp create_session(%{count: count} = context, store) do
    id = "demo-job-" <> Base.encode16(:crypto.strong_rand_bytes(3), case: :lower)
    size_bytes = count * 8

    with {:ok, session} <-
           expect(SessionStore.create_session(store, id, ttl: 600), "create_session"),
         {:ok, input} <-
           expect(
             SessionStore.allocate_in_session(store, id, size_bytes, label: "demo-session-input"),
             "allocate_in_session"
           ),
         {:ok, info} <- expect(SnakepitShm.info(context.server, input.id), "info") do
      line(
        "create_session(#{inspect(id)}, ttl: 600) -> %Session{id: #{inspect(session.id)}, " <>
          "ttl: #{session.ttl}, regions: %{}}"
      )

      line(
        "allocate_in_session: input region #{input.id}, #{Say.bytes(size_bytes)} at " <>
          "#{input.path} (session #{inspect(input.session)}, held by the store " <>
          "#{inspect(Enum.map(info.holders, & &1.holder))})"
      )

      input_bin = Floats.input(count)
      {written, write_us} = timed(fn -> SnakepitShm.write(input, 0, input_bin) end)

      with {:ok, :ok} <- expect(written, "writing the session's input") do
        line("Elixir wrote #{count} float64 into it in #{duration(write_us)}")
        {:ok, %{id: id, input: input, input_bin: input_bin, outputs: []}}
      end
    end
  end

  # (h) ------------------------------------------------------------------------------

  @spec process_profile(map(), pid(), map()) :: {:ok, map()} | {:error, String.t()}
  defp process_profile(context, store, session) do
    Say.step(
      "h",
      "Process profile: Pool.start_link(pool_size: 2, worker_profile: :process) — " <>
        "one Python process per worker"
    )

    with_pool(context, store, [pool_size: length(@process_factors), worker_profile: :process], fn
      pool, workers ->
        line(
          "#{length(workers)} Python processes ready (pids " <>
            "#{Enum.map_join(workers, ", ", &Integer.to_string(&1.python_pid))})"
        )

        scale_concurrently(context, pool, session, @process_factors)
    end)
  end

  # (i) ------------------------------------------------------------------------------

  @spec thread_profile(map(), pid(), map()) :: {:ok, map()} | {:error, String.t()}
  defp thread_profile(context, store, session) do
    Say.step(
      "i",
      "Thread profile: Pool.start_link(pool_size: 1, worker_profile: :thread, " <>
        "threads_per_worker: #{@threads}) — one Python process, #{@threads} threads"
    )

    opts = [pool_size: 1, worker_profile: :thread, threads_per_worker: @threads]

    with_pool(context, store, opts, fn pool, [worker] ->
      line(
        "1 Python process ready (pid #{worker.python_pid}, ping says threads=#{worker.threads}); " <>
          "its threads share one mapping per segment"
      )

      with {:ok, session} <- scale_concurrently(context, pool, session, @thread_factors) do
        pids = session.last_pids
        [%{peak_load: peak}] = Pool.worker_info(pool)

        line(
          "the worker had up to #{peak} request(s) in flight in that process at once (peak_load)"
        )

        with :ok <-
               check(
                 pids == [worker.python_pid],
                 "the thread pool's requests ran in #{inspect(pids)}, not only in " <>
                   "#{worker.python_pid}"
               ) do
          line(
            "all #{length(@thread_factors)} requests were answered by the one process #{worker.python_pid}"
          )

          {:ok, session}
        end
      end
    end)
  end

  # Runs one `scale` per factor at once, each into an output the pool allocates in the
  # session, and checks every output read back through shared memory.
  @spec scale_concurrently(map(), pid(), map(), [float()]) ::
          {:ok, map()} | {:error, String.t()}
  defp scale_concurrently(%{count: count}, pool, session, factors) do
    size_bytes = count * 8

    line(
      "#{length(factors)} concurrent execute_in_session(#{inspect(session.id)}, \"scale\", " <>
        "%{input: input, output: {:alloc, #{size_bytes}}, factor: f})"
    )

    {replies, us} =
      timed(fn ->
        factors
        |> Enum.map(fn factor ->
          Task.async(fn ->
            Pool.execute_in_session(
              session.id,
              "scale",
              %{input: session.input, output: {:alloc, size_bytes}, factor: factor},
              pool: pool,
              timeout: @request_timeout_ms
            )
          end)
        end)
        |> Task.await_many(@request_timeout_ms + 5_000)
      end)

    line("all answered in #{duration(us)}")

    factors
    |> Enum.zip(replies)
    |> Enum.reduce_while({:ok, session, []}, fn
      {factor, reply}, {:ok, session, pids} ->
        case check_output(session, factor, reply, size_bytes) do
          {:ok, %Result{} = result} ->
            outputs = [result.regions.output | session.outputs]
            {:cont, {:ok, %{session | outputs: outputs}, [result.python_pid | pids]}}

          {:error, _} = error ->
            {:halt, error}
        end
    end)
    |> case do
      {:ok, session, pids} ->
        line(
          "checked: every output read back with :file.pread equals input * factor, " <>
            "and its sha256 is the one Python computed"
        )

        {:ok, Map.put(session, :last_pids, Enum.uniq(pids))}

      {:error, _} = error ->
        error
    end
  end

  @spec check_output(map(), float(), term(), pos_integer()) ::
          {:ok, Result.t()} | {:error, String.t()}
  defp check_output(session, factor, reply, size_bytes) do
    with {:ok, %Result{regions: %{output: output}} = result} <-
           expect(reply, "scale by #{factor}"),
         {:ok, bytes} <- expect(SnakepitShm.read(output, 0, size_bytes), "reading an output"),
         :ok <-
           check(
             bytes == Floats.scale(session.input_bin, factor),
             "the output of factor #{factor} differs from input * #{factor}"
           ),
         :ok <-
           check(
             result.fields["sha256"] == sha256_hex(bytes),
             "sha256 of the output of factor #{factor}: Python #{result.fields["sha256"]}"
           ) do
      line(
        "#{result.worker_id} (Python pid #{result.python_pid}): factor #{factor} -> output " <>
          "#{output.id} (allocated in the session by the pool); numpy scaled " <>
          "#{result.fields["n"]} values in place in #{result.fields["micros"]} µs"
      )

      {:ok, result}
    end
  end

  @spec with_pool(map(), pid(), keyword(), (pid(), [map()] -> result)) ::
          result | {:error, String.t()}
        when result: term()
  defp with_pool(context, store, opts, fun) do
    opts =
      Keyword.merge(opts,
        name: nil,
        session_store: store,
        stderr_path: context[:worker_log]
      )

    {started, start_us} = timed(fn -> Pool.start_link(opts) end)

    case started do
      {:ok, pool} ->
        workers = Pool.worker_info(pool)

        try do
          line("pool started in #{duration(start_us)}")
          fun.(pool, workers)
        after
          stop(pool)
          pids = Enum.map(workers, & &1.python_pid)
          running = Enum.filter(pids, &OsProcess.alive?/1)

          if running == [],
            do: line("pool stopped; its Python processes #{Enum.join(pids, ", ")} have exited"),
            else: line("pool stopped, but Python processes #{inspect(running)} still run")
        end

      {:error, error} ->
        expect({:error, error}, "starting the #{opts[:worker_profile]} pool")
    end
  end

  # (j) ------------------------------------------------------------------------------

  @spec end_session(map(), pid(), map()) :: :ok | {:error, String.t()}
  defp end_session(%{server: server}, store, session) do
    Say.step("j", "Ending the session frees its regions")
    regions = [session.input | session.outputs]

    with {:ok, listed} <-
           expect(SessionStore.session_regions(store, session.id), "session_regions"),
         :ok <-
           check(
             length(listed) == length(regions),
             "the node lists #{length(listed)} regions of the session, expected #{length(regions)}"
           ),
         {:ok, before} <- expect(SnakepitShm.stats(server), "stats") do
      bytes = Enum.sum(Enum.map(listed, & &1.size))

      line(
        "the node lists #{length(listed)} regions of #{inspect(session.id)} " <>
          "(#{Say.bytes(bytes)}): the input and #{length(session.outputs)} outputs; " <>
          "node stats: #{before.regions} regions in #{before.segments} segments"
      )

      started = System.monotonic_time(:millisecond)

      with {:ok, ended} <- expect(SessionStore.end_session(store, session.id), "end_session"),
           :ok <-
             check(
               ended.released == length(regions),
               "the node ended #{ended.released} regions, expected #{length(regions)}"
             ),
           {:ok, gone_ms} <- await_empty(server, session.id, started),
           {:ok, gc} <- expect(SnakepitShm.gc(server), "gc"),
           {:ok, live} <- expect(SnakepitShm.list(server, limit: 100_000), "list"),
           {:ok, after_stats} <- expect(SnakepitShm.stats(server), "stats") do
        line(
          "SessionStore.end_session -> the node released #{ended.released} regions " <>
            "({:release_session, #{inspect(session.id)}}); list(session: ...) is empty " <>
            "#{gone_ms} ms later; session_exists? = " <>
            "#{SessionStore.session_exists?(store, session.id)}"
        )

        check_segments(regions, live, gc, after_stats)
      end
    end
  end

  @spec check_segments([map()], [map()], map(), map()) :: :ok | {:error, String.t()}
  defp check_segments(regions, live, gc, stats) do
    live_paths = MapSet.new(live, & &1.path)
    paths = regions |> Enum.map(& &1.path) |> Enum.uniq()
    {shared, own} = Enum.split_with(paths, &MapSet.member?(live_paths, &1))
    left = Enum.filter(own, &File.exists?/1)

    line(
      "segments: #{length(own) - length(left)} of the session's #{length(paths)} segment " <>
        "file(s) reclaimed from the shm dir" <>
        if(shared == [], do: "", else: " (#{length(shared)} still hold other live regions)") <>
        "; gc released #{gc.segments_released} empty pooled segment(s); node stats now: " <>
        "#{stats.regions} regions in #{stats.segments} segments"
    )

    check(
      left == [],
      "segment files of the ended session are still there: #{Enum.join(left, ", ")}"
    )
  end

  @spec await_empty(node(), String.t(), integer()) ::
          {:ok, non_neg_integer()} | {:error, String.t()}
  defp await_empty(server, id, started) do
    with {:ok, listed} <- expect(SnakepitShm.list(server, session: id), "list") do
      elapsed = System.monotonic_time(:millisecond) - started

      cond do
        listed == [] ->
          {:ok, elapsed}

        elapsed > @gone_deadline_ms ->
          {:error, "#{length(listed)} regions of session #{id} still listed after #{elapsed} ms"}

        true ->
          Process.sleep(@poll_interval_ms)
          await_empty(server, id, started)
      end
    end
  end

  # ------------------------------------------------------------------------------------

  @spec stop(pid()) :: :ok
  defp stop(pid) do
    GenServer.stop(pid, :normal, 60_000)
  catch
    :exit, _ -> :ok
  end

  @spec sha256_hex(iodata()) :: String.t()
  defp sha256_hex(data), do: :sha256 |> :crypto.hash(data) |> Base.encode16(case: :lower)
end
