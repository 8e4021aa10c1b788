defmodule SnakepitShm.NodeDownTest do
  # Kills a node of its own (not the suite's): not async, so no other test runs meanwhile.
  use ExUnit.Case, async: false

  alias SnakepitShm.{NodeProcess, OsProcess, Segments}

  @moduletag timeout: 120_000
  # A call to a node that is down must come back within this bound (a correctness bound,
  # not a benchmark): well under the 5 s default timeout a hanging call would end at.
  @prompt_ms 2_000
  @pooled_bytes 4096
  @dedicated_bytes 3 * 1_048_576

  setup do
    suffix = Base.encode16(:crypto.strong_rand_bytes(5), case: :lower)
    shm_dir = "/dev/shm/snktest-mix-down-#{suffix}"
    log_path = Path.join(System.tmp_dir!(), "snktest-mix-down-#{suffix}-node.log")
    File.mkdir!(shm_dir)
    File.chmod!(shm_dir, 0o700)
    {:ok, started} = Agent.start(fn -> [] end)

    on_exit(fn ->
      # The nodes' owners close their Ports when the test process exits (stdin EOF);
      # make sure every node started here is gone before its shm dir is removed.
      for os_pid <- Agent.get(started, & &1), do: :ok = OsProcess.ensure_exited(os_pid, 5_000)
      Agent.stop(started)
      File.rm_rf!(shm_dir)
      File.rm(log_path)
    end)

    opts = [
      name: "snktest_mix_down_#{suffix}",
      cookie: NodeProcess.random_cookie(),
      shm_dir: shm_dir,
      stderr_path: log_path
    ]

    %{opts: opts, shm_dir: shm_dir, log_path: log_path, started: started}
  end

  test "calls fail promptly with :nodedown while the node is down, and work again after a restart",
       %{opts: opts, shm_dir: shm_dir, log_path: log_path, started: started} do
    first = start_node!(opts, started)
    server = first.node
    assert :ok = SnakepitShm.connect(server, cookie: opts[:cookie])
    {holder, [pooled, dedicated]} = spawn_holder(server, [@pooled_bytes, @dedicated_bytes])
    holder_ref = Process.monitor(holder)
    old_paths = Enum.map(Segments.list(shm_dir), & &1.path)
    assert pooled.path in old_paths and dedicated.path in old_paths

    # A crash: SIGKILL gives the node no chance to clean up. The calls start right away,
    # while the connection may not be known to be gone yet.
    :ok = OsProcess.signal(first.os_pid, "KILL")

    latencies_ms =
      for {name, call} <- client_calls(server, pooled) do
        {elapsed_ms, reply} = timed(call)

        assert {:error, %{code: :not_found, details: %{reason: :nodedown}, message: message}} =
                 reply,
               "#{name} while the node is down replied #{inspect(reply)}"

        assert is_binary(message)

        assert elapsed_ms < @prompt_ms,
               "#{name} took #{elapsed_ms} ms to report the node down (bound #{@prompt_ms} ms)"

        {name, elapsed_ms}
      end

    assert OsProcess.wait_exit(first.os_pid, 5_000)
    assert Enum.all?(old_paths, &File.exists?/1)

    # The node linked the holder; with the connection gone the link fires :noconnection.
    assert_receive {:DOWN, ^holder_ref, :process, ^holder, :noconnection}, @prompt_ms

    {connect_ms, connect_reply} =
      timed(fn -> SnakepitShm.connect(server, cookie: opts[:cookie]) end)

    assert {:error, %{code: :not_found, details: %{reason: :nodedown}}} = connect_reply
    assert connect_ms < @prompt_ms, "connect took #{connect_ms} ms to fail"

    # The same name and shm dir again; the next call connects by itself.
    _second = start_node!(opts, started)
    refute server in Node.list(:hidden)
    {first_call_ms, reply} = timed(fn -> SnakepitShm.stats(server) end)
    assert {:ok, %{regions: 0}} = reply
    assert server in Node.list(:hidden)

    assert {:ok, region} = SnakepitShm.allocate(server, 1000)
    assert :ok = SnakepitShm.write(region, 0, "after the restart")
    assert {:ok, "after the restart"} = SnakepitShm.read(region, 0, 17)
    assert :ok = SnakepitShm.release(server, region.id)

    # The restarted node reclaimed the dead run's segments before it served.
    assert Enum.filter(old_paths, &File.exists?/1) == []
    assert File.read!(log_path) =~ "stale sweep: reclaimed"

    IO.puts(
      "\nnode down: #{length(latencies_ms)} client calls failed with :nodedown in " <>
        "#{Enum.map_join(latencies_ms, ", ", fn {name, ms} -> "#{name} #{ms}" end)} ms " <>
        "(connect #{connect_ms} ms); first call after the restart #{first_call_ms} ms"
    )
  end

  # Every client call, each with default options (so the 5 s default timeout applies).
  defp client_calls(server, %{id: id} = region) do
    [
      allocate: fn -> SnakepitShm.allocate(server, 4096) end,
      allocate_many: fn -> SnakepitShm.allocate_many(server, [64, 128]) end,
      acquire: fn -> SnakepitShm.acquire(server, region) end,
      release: fn -> SnakepitShm.release(server, id) end,
      release_many: fn -> SnakepitShm.release_many(server, [id]) end,
      free: fn -> SnakepitShm.free(server, id) end,
      info: fn -> SnakepitShm.info(server, id) end,
      list: fn -> SnakepitShm.list(server) end,
      release_session: fn -> SnakepitShm.release_session(server, "s") end,
      stats: fn -> SnakepitShm.stats(server) end,
      health: fn -> SnakepitShm.health(server) end,
      gc: fn -> SnakepitShm.gc(server) end,
      config: fn -> SnakepitShm.config(server) end,
      config_set: fn -> SnakepitShm.config_set(server, %{grace_ms: 100}) end,
      ping: fn -> SnakepitShm.ping(server) end
    ]
  end

  defp timed(fun) do
    started_ms = System.monotonic_time(:millisecond)
    result = fun.()
    {System.monotonic_time(:millisecond) - started_ms, result}
  end

  defp start_node!(opts, started) do
    {:ok, node_process} = NodeProcess.start(opts)
    Agent.update(started, &[node_process.os_pid | &1])
    node_process
  end

  # A process (not linked to the test) that allocates regions of `sizes` and waits.
  defp spawn_holder(server, sizes) do
    parent = self()

    pid =
      spawn(fn ->
        regions = Enum.map(sizes, &SnakepitShm.allocate(server, &1))
        send(parent, {:allocated, self(), regions})
        Process.sleep(:infinity)
      end)

    receive do
      {:allocated, ^pid, regions} ->
        {pid, Enum.map(regions, fn {:ok, region} -> region end)}
    after
      5_000 -> flunk("the holder process did not allocate")
    end
  end
end
