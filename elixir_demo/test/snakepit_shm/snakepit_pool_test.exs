defmodule SnakepitShm.Snakepit.PoolTest do
  # Real node, real Python workers (python_demo), both worker profiles.
  use ExUnit.Case, async: true

  alias SnakepitShm.OsProcess
  alias SnakepitShm.Snakepit.{Pool, Result, SessionStore}
  alias SnakepitShm.TestNode

  import SnakepitShm.TestNode, only: [await: 2, stop_quietly: 2]

  @moduletag :python

  setup do
    log_path = Path.join(System.tmp_dir!(), TestNode.unique("snktest-mix-pool") <> ".log")
    {:ok, store} = SessionStore.start_link(server: TestNode.server(), name: nil)

    on_exit(fn ->
      stop_quietly(store, 60_000)
      File.rm(log_path)
    end)

    %{store: store, server: TestNode.server(), log: log_path}
  end

  describe "process profile" do
    test "requests run on separate Python processes, results come back in shared memory",
         %{store: store, log: log} do
      pool = start_pool!(store, log, pool_size: 2, worker_profile: :process)
      id = TestNode.unique("sess")
      {:ok, _} = SessionStore.create_session(store, id, [])

      inputs =
        for n <- 1..2 do
          {:ok, region} = SessionStore.allocate_in_session(store, id, 8 * 1000, [])
          :ok = SnakepitShm.write(region, 0, floats(1000, n))
          region
        end

      # Two callers at once: one worker each (capacity 1 per process).
      results =
        inputs
        |> Enum.map(fn input ->
          Task.async(fn ->
            Pool.execute("scale", %{input: input, output: {:alloc, 8000}, factor: 2.0},
              pool: pool,
              session_id: TestNode.unique("job")
            )
          end)
        end)
        |> Task.await_many(30_000)

      assert {:error, %{code: :invalid_request}} =
               Pool.execute("scale", %{input: hd(inputs), output: {:alloc, 8000}, factor: 2.0},
                 pool: pool
               )

      [{:ok, %Result{} = r1}, {:ok, %Result{} = r2}] = results
      assert r1.worker_id != r2.worker_id
      assert r1.python_pid != r2.python_pid
      assert r1.profile == :process

      for {%Result{regions: %{output: output}, fields: fields}, n} <- Enum.zip([r1, r2], 1..2) do
        {:ok, bytes} = SnakepitShm.read(output, 0, 8000)
        assert bytes == floats(1000, n * 2.0)
        assert fields["sha256"] == sha256(bytes)
        assert fields["n"] == "1000"
      end

      assert %{workers: 2, capacity: 2, requests: 3, worker_profile: :process} =
               Pool.get_stats(pool)

      pids = Enum.map(Pool.worker_info(pool), & &1.python_pid)
      Pool.stop(pool)
      for pid <- pids, do: refute(OsProcess.alive?(pid))
    end

    test "a session sticks to its worker; its outputs end with the session",
         %{store: store, server: server, log: log} do
      pool = start_pool!(store, log, pool_size: 2, worker_profile: :process)
      id = TestNode.unique("sess")
      {:ok, _} = SessionStore.create_session(store, id, [])
      {:ok, input} = SessionStore.allocate_in_session(store, id, 800, [])
      :ok = SnakepitShm.write(input, 0, floats(100, 1))

      results =
        for _ <- 1..3 do
          {:ok, result} =
            Pool.execute_in_session(
              id,
              "scale",
              %{input: input, output: {:alloc, 800}, factor: 3.0},
              pool: pool
            )

          {:ok, bytes} = SnakepitShm.read(result.regions.output, 0, 800)
          assert bytes == floats(100, 3.0)
          result
        end

      # A string key comes back as a string key.
      assert {:ok, %Result{regions: %{"output" => %{session: ^id}}} = by_string} =
               Pool.execute_in_session(
                 id,
                 "scale",
                 %{"input" => input, "output" => {:alloc, 800}, "factor" => 1.0},
                 pool: pool
               )

      results = results ++ [%{by_string | regions: %{output: by_string.regions["output"]}}]
      assert [worker_id] = results |> Enum.map(& &1.worker_id) |> Enum.uniq()
      assert Pool.session_worker(pool, id) == worker_id

      assert {:ok, %{last_worker_id: ^worker_id, regions: regions}} =
               SessionStore.get_session(store, id)

      assert map_size(regions) == 5
      assert Enum.all?(results, &(&1.regions.output.session == id))

      {:ok, listed} = SessionStore.session_regions(store, id)
      assert length(listed) == 5
      since = System.monotonic_time(:millisecond)
      assert {:ok, %{released: 5}} = SessionStore.end_session(store, id)

      for region <- [input | Enum.map(results, & &1.regions.output)],
          do: TestNode.await_gone(region.id, since)

      assert {:ok, []} = SnakepitShm.list(server, session: id)
      Pool.stop(pool)
    end

    test "affinity: strict_fail_fast is :busy while the session's worker works; a full pool times out",
         %{store: store, log: log} do
      pool = start_pool!(store, log, pool_size: 1, worker_profile: :process)
      id = TestNode.unique("sess")
      {:ok, _} = SessionStore.create_session(store, id, [])
      {:ok, region} = SessionStore.allocate_in_session(store, id, 4096, [])
      {:ok, _} = Pool.execute_in_session(id, "ping", %{}, pool: pool)

      slow =
        Task.async(fn ->
          Pool.execute_in_session(id, "contend", contend(region, 0.5), pool: pool)
        end)

      await(fn -> Pool.get_stats(pool).in_flight == 1 end, "the slow request to start")

      assert {:error, %{code: :busy}} =
               Pool.execute_in_session(id, "ping", %{}, pool: pool, affinity: :strict_fail_fast)

      assert {:error, %{code: :timeout}} = Pool.execute("ping", %{}, pool: pool, timeout: 50)
      assert {:ok, %Result{fields: %{"ops" => _}}} = Task.await(slow, 30_000)
      # Queued requests run once the worker is free.
      assert {:ok, _} =
               Pool.execute_in_session(id, "ping", %{}, pool: pool, affinity: :strict_queue)

      assert %{queue_timeouts: 1, errors: 2} = Pool.get_stats(pool)
      Pool.stop(pool)
    end

    @tag capture_log: true
    test "a Python process killed mid-request fails that request; the worker restarts",
         %{store: store, log: log} do
      pool = start_pool!(store, log, pool_size: 1, worker_profile: :process)
      id = TestNode.unique("sess")
      {:ok, _} = SessionStore.create_session(store, id, [])
      {:ok, region} = SessionStore.allocate_in_session(store, id, 4096, [])
      [%{python_pid: old_pid}] = Pool.worker_info(pool)

      slow =
        Task.async(fn ->
          Pool.execute_in_session(id, "contend", contend(region, 5.0), pool: pool)
        end)

      await(fn -> Pool.get_stats(pool).in_flight == 1 end, "the slow request to start")
      :ok = OsProcess.signal(old_pid, "KILL")

      assert {:error, %{code: :platform_error}} = Task.await(slow, 30_000)
      assert {:ok, %Result{python_pid: _}} = Pool.execute("ping", %{}, pool: pool)
      [%{python_pid: new_pid, restarts: 1}] = Pool.worker_info(pool)
      assert new_pid != old_pid
      refute OsProcess.alive?(old_pid)
      Pool.stop(pool)
      refute OsProcess.alive?(new_pid)
    end

    test "the worker's errors and bad arguments are clear errors", %{store: store, log: log} do
      pool = start_pool!(store, log, pool_size: 1, worker_profile: :process)

      assert {:error, %{code: :invalid_request, message: message}} =
               Pool.execute("no_such_op", %{}, pool: pool)

      assert message =~ "no_such_op"

      assert {:error, %{code: code, details: %{op: "sha256"}}} =
               Pool.execute(
                 "sha256",
                 %{region: %{path: "/dev/shm/snk-no-such", offset: 0, size: 8, id: "x"}},
                 pool: pool
               )

      assert code in [:not_found, :invalid_request]

      assert {:error, %{code: :invalid_request}} = Pool.execute("ping", %{op: "x"}, pool: pool)
      assert {:error, %{code: :invalid_request}} = Pool.execute("ping", [], pool: pool)
      assert {:error, %{code: :invalid_request}} = Pool.execute("", %{}, pool: pool)
      assert {:error, %{code: :invalid_request}} = Pool.execute("ping", %{x: {1, 2}}, pool: pool)

      assert {:error, %{code: :invalid_request}} =
               Pool.execute("ping", %{}, pool: pool, colour: 1)

      assert {:error, %{code: :not_found}} = Pool.execute("ping", %{}, pool: :no_such_pool)
      # The worker kept serving.
      assert {:ok, _} = Pool.execute("ping", %{}, pool: pool)
      Pool.stop(pool)

      assert {:error, %{code: :invalid_request}} =
               Pool.start_link(name: nil, worker_profile: :process, threads_per_worker: 2)

      assert {:error, %{code: :invalid_request}} =
               Pool.start_link(name: nil, worker_profile: :fibre)

      assert {:error, %{code: :platform_error}} =
               Pool.start_link(name: nil, pool_size: 1, python: "/bin/false", stderr_path: log)
    end
  end

  describe "thread profile" do
    test "one Python process serves 4 concurrent requests on regions of one segment",
         %{store: store, server: server, log: log} do
      pool = start_pool!(store, log, pool_size: 1, worker_profile: :thread, threads_per_worker: 4)

      assert [%{mode: :thread, threads: 4, capacity: 4, python_pid: python_pid}] =
               Pool.worker_info(pool)

      id = TestNode.unique("sess")
      {:ok, _} = SessionStore.create_session(store, id, [])

      regions =
        for n <- 1..4 do
          {:ok, region} = SessionStore.allocate_in_session(store, id, 65_536, label: "t#{n}")
          :ok = SnakepitShm.write(region, 0, floats(8192, n))
          region
        end

      # Small regions share one pooled segment: one mapping serves them all.
      assert [_one_segment] = regions |> Enum.map(& &1.segment) |> Enum.uniq()

      results =
        regions
        |> Enum.map(fn region ->
          Task.async(fn ->
            Pool.execute_in_session(
              id,
              "scale",
              %{input: region, output: {:alloc, 65_536}, factor: 0.5},
              pool: pool
            )
          end)
        end)
        |> Task.await_many(30_000)

      for {{:ok, %Result{} = result}, n} <- Enum.zip(results, 1..4) do
        assert result.python_pid == python_pid
        assert result.profile == :thread
        {:ok, bytes} = SnakepitShm.read(result.regions.output, 0, 65_536)
        assert bytes == floats(8192, n * 0.5)
        assert result.fields["sha256"] == sha256(bytes)
      end

      # Concurrency on the one process: 4 slow requests are in flight together.
      slow =
        for region <- regions do
          Task.async(fn ->
            Pool.execute_in_session(id, "contend", contend(region, 0.3), pool: pool)
          end)
        end

      await(fn -> match?([%{load: 4}], Pool.worker_info(pool)) end, "4 requests in flight")
      assert Enum.all?(Task.await_many(slow, 30_000), &match?({:ok, _}, &1))

      since = System.monotonic_time(:millisecond)
      assert {:ok, %{released: 8}} = SessionStore.end_session(store, id)
      for region <- regions, do: TestNode.await_gone(region.id, since)
      assert {:ok, []} = SnakepitShm.list(server, session: id)
      Pool.stop(pool)
      refute OsProcess.alive?(python_pid)
    end

    test "a request that times out does not disturb the others or restart Python",
         %{store: store, log: log} do
      pool = start_pool!(store, log, pool_size: 1, worker_profile: :thread, threads_per_worker: 2)
      [%{python_pid: python_pid}] = Pool.worker_info(pool)
      id = TestNode.unique("sess")
      {:ok, _} = SessionStore.create_session(store, id, [])
      {:ok, region} = SessionStore.allocate_in_session(store, id, 4096, [])

      assert {:error, %{code: :timeout}} =
               Pool.execute_in_session(id, "contend", contend(region, 1.0),
                 pool: pool,
                 timeout: 100
               )

      assert {:ok, %Result{fields: %{"threads" => "2"}, python_pid: ^python_pid}} =
               Pool.execute("ping", %{}, pool: pool)

      assert [%{python_pid: ^python_pid, restarts: 0, timeouts: 1}] = Pool.worker_info(pool)
      Pool.stop(pool)
    end
  end

  defp start_pool!(store, log, opts) do
    opts = Keyword.merge([name: nil, session_store: store, stderr_path: log], opts)

    case Pool.start_link(opts) do
      {:ok, pool} ->
        on_exit(fn -> stop_quietly(pool, 60_000) end)
        pool

      {:error, error} ->
        flunk(
          "pool did not start: #{Exception.message(error)}\n" <>
            (File.read(log) |> elem(1) |> to_string())
        )
    end
  end

  defp contend(region, seconds),
    do: %{region: region, role: "reader", seconds: seconds, words: 4}

  defp floats(count, factor) do
    for i <- 0..(count - 1), into: <<>>, do: <<rem(i, 1024) * 0.125 * factor::float-little-64>>
  end

  defp sha256(bytes), do: :crypto.hash(:sha256, bytes) |> Base.encode16(case: :lower)
end
