defmodule SnakepitShm.ManagerTest do
  # Starts and kills nodes of its own (not the suite's): not async, so no other test runs
  # meanwhile.
  use ExUnit.Case, async: false

  alias SnakepitShm.{Error, Manager, OsProcess, Segments, Telemetry}

  doctest SnakepitShm.Manager

  @moduletag timeout: 180_000
  @moduletag capture_log: true
  # How long a node may take to start on a loaded 2-core machine (JVM start + ready).
  @up_ms 60_000
  # A call made while the node is down must come back within this bound (a correctness
  # bound, as in node_down_test.exs: well under the 5 s default timeout).
  @prompt_ms 2_000

  setup do
    suffix = Base.encode16(:crypto.strong_rand_bytes(5), case: :lower)
    shm_dir = "/dev/shm/snktest-mix-mgr-#{suffix}"
    log_path = Path.join(System.tmp_dir!(), "snktest-mix-mgr-#{suffix}-node.log")
    File.mkdir!(shm_dir)
    File.chmod!(shm_dir, 0o700)
    # OS pids of every node (and BEAM) started here, to make sure they are gone.
    {:ok, os_pids} = Agent.start(fn -> [] end)
    test_pid = self()
    handler_id = "snktest-manager-#{suffix}"

    :ok =
      Telemetry.attach_many(
        handler_id,
        [[:snakepit, :shm, :manager, :up], [:snakepit, :shm, :manager, :down]],
        fn event, measurements, metadata, _config ->
          send(test_pid, {:manager_event, event, measurements, metadata})
        end,
        nil
      )

    on_exit(fn ->
      Telemetry.detach(handler_id)

      for os_pid <- Agent.get(os_pids, & &1) do
        if OsProcess.alive?(os_pid), do: OsProcess.signal(os_pid, "KILL")
        true = OsProcess.wait_exit(os_pid, 5_000)
      end

      Agent.stop(os_pids)
      File.rm_rf!(shm_dir)
      File.rm(log_path)
    end)

    %{
      suffix: suffix,
      shm_dir: shm_dir,
      log_path: log_path,
      os_pids: os_pids,
      name: :"snktest_manager_#{suffix}"
    }
  end

  defp remember(os_pids, os_pid), do: Agent.update(os_pids, &[os_pid | &1])

  defp timed(fun) do
    started_ms = System.monotonic_time(:millisecond)
    result = fun.()
    {System.monotonic_time(:millisecond) - started_ms, result}
  end

  defp await_event(kind, manager) do
    receive do
      {:manager_event, [:snakepit, :shm, :manager, ^kind], measurements,
       %{manager: ^manager} = metadata} ->
        {measurements, metadata}
    after
      @up_ms -> flunk("no #{kind} event of #{inspect(manager)} within #{@up_ms} ms")
    end
  end

  test "starts the node, restarts it after it is killed, and reports it down meanwhile",
       %{suffix: suffix, shm_dir: shm_dir, log_path: log_path, os_pids: os_pids, name: name} do
    start_supervised!({
      Manager,
      # Long enough for the calls below to see the node down before it comes back.
      name: name,
      node_name: "snktest_mgr_#{suffix}",
      shm_dir: shm_dir,
      stderr_path: log_path,
      backoff_initial_ms: 3_000
    })

    {_measurements, %{node: node, os_pid: first_pid, attempt: 0, restarts: 0}} =
      await_event(:up, name)

    remember(os_pids, first_pid)
    assert {:ok, ^node} = Manager.server(name)
    assert {:ok, %{status: :up, node: ^node, os_pid: ^first_pid}} = Manager.status(name)
    # The Port's OS pid is the JVM's: the launcher execs java.
    assert {:ok, %{pid: ^first_pid}} = SnakepitShm.ping(node)
    # Held by a process of its own: the node links to holders, and its death sends them
    # :noconnection (see "Holders" in SnakepitShm).
    {holder, region} = spawn_holder(node, 4096)
    holder_ref = Process.monitor(holder)
    assert :ok = SnakepitShm.write(region, 0, "before")

    :ok = OsProcess.signal(first_pid, "KILL")

    {%{retry_in_ms: 3_000}, down} = await_event(:down, name)
    assert_receive {:DOWN, ^holder_ref, :process, ^holder, :noconnection}, @prompt_ms
    assert %{node: ^node, os_pid: ^first_pid, reason: {:exit_status, 137}, attempt: 1} = down
    assert %Error{code: :not_found, details: %{reason: :nodedown}} = down.error

    # While it is down: the manager says so, and calls to the node fail at once.
    {server_ms, reply} = timed(fn -> Manager.server(name) end)

    assert {:error, %Error{code: :not_found, details: details, remediation: remediation}} = reply

    assert %{reason: :nodedown, status: :down, manager: ^name, node: ^node} = details
    assert details.retry_in_ms in 0..3_000
    assert details.last_error.details.exit_status == 137
    assert remediation =~ "wait_ms"
    assert server_ms < @prompt_ms

    assert {:ok, %{status: :down, restarts: 1, last_exit_status: 137}} = Manager.status(name)

    for {call, fun} <- [
          stats: fn -> SnakepitShm.stats(node) end,
          allocate: fn -> SnakepitShm.allocate(node, 64) end,
          info: fn -> SnakepitShm.info(node, region.id) end
        ] do
      {elapsed_ms, reply} = timed(fun)

      assert {:error, %Error{code: :not_found, details: %{reason: :nodedown}}} = reply,
             "#{call} while the node is down: #{inspect(reply)}"

      assert elapsed_ms < @prompt_ms, "#{call} took #{elapsed_ms} ms to fail"
    end

    # server/2 with wait_ms answers once the node is back.
    assert {:ok, ^node} = Manager.server(name, wait_ms: @up_ms)
    {_, %{os_pid: second_pid, restarts: 1}} = await_event(:up, name)
    remember(os_pids, second_pid)
    assert second_pid != first_pid
    refute OsProcess.alive?(first_pid)
    assert {:ok, %{pid: ^second_pid}} = SnakepitShm.ping(node)

    # A new run: the old region is gone (its segment reclaimed), new ones work.
    assert {:error, %Error{code: :not_found}} = SnakepitShm.info(node, region.id)
    {:ok, again} = SnakepitShm.allocate(node, 4096)
    assert :ok = SnakepitShm.write(again, 0, "after")
    assert {:ok, "after"} = SnakepitShm.read(again, 0, 5)
    assert :ok = SnakepitShm.release(node, again.id)

    # Stopping the manager stops the node and waits for it.
    :ok = stop_supervised(name)
    refute OsProcess.alive?(second_pid)
    assert Segments.list(shm_dir) == []
    assert {:error, %Error{code: :not_found, details: %{reason: :noproc}}} = Manager.server(name)
  end

  test "a start that fails is retried with exponential backoff, capped",
       %{suffix: suffix, shm_dir: shm_dir, log_path: log_path, name: name} do
    launcher = Path.join(System.tmp_dir!(), "snktest-mgr-failing-#{suffix}.sh")
    File.write!(launcher, "#!/bin/sh\necho 'cannot start: test launcher' >&2\nexit 3\n")
    File.chmod!(launcher, 0o700)
    on_exit(fn -> File.rm(launcher) end)

    start_supervised!(
      {Manager,
       name: name,
       launcher: launcher,
       shm_dir: shm_dir,
       stderr_path: log_path,
       backoff_initial_ms: 20,
       backoff_max_ms: 80,
       backoff_reset_ms: 1_000}
    )

    retries =
      for attempt <- 1..5 do
        {%{retry_in_ms: retry_in_ms}, metadata} = await_event(:down, name)
        assert %{reason: :start_failed, attempt: ^attempt, restarts: 0} = metadata
        assert %Error{code: :platform_error, message: message} = metadata.error
        assert message =~ "exited with status 3"
        assert message =~ "cannot start: test launcher"
        retry_in_ms
      end

    assert retries == [20, 40, 80, 80, 80]

    assert {:error, %Error{code: :not_found, details: %{reason: :nodedown} = details}} =
             Manager.server(name)

    assert details.status in [:starting, :down]
    assert %Error{code: :platform_error} = details.last_error
    assert {:ok, %{status: status, node: nil}} = Manager.status(name)
    assert status in [:starting, :down]
  end

  test "bad options are refused before anything starts", %{shm_dir: shm_dir, name: name} do
    # init/1 stops with the error, which start_link/1 returns and also sends as an exit
    # signal to the caller (as under a supervisor).
    Process.flag(:trap_exit, true)

    assert {:error, %Error{code: :invalid_request, details: %{key: :backoff_max_ms}}} =
             Manager.start_link(name: name, shm_dir: shm_dir, backoff_max_ms: 0)

    assert {:error, %Error{code: :invalid_request, details: %{key: :grace_ms}}} =
             Manager.start_link(name: name, shm_dir: shm_dir, config: %{grace_ms: 1.5})

    assert {:error, %Error{code: :not_found, details: %{launcher: "/nonexistent/launcher"}}} =
             Manager.start_link(name: name, launcher: "/nonexistent/launcher")

    assert {:error, %Error{code: :invalid_request}} = Manager.start_link(:bogus)
    assert {:error, %Error{code: :invalid_request}} = Manager.server(name, wait_ms: -1)

    assert {:error, %Error{code: :not_found, details: %{reason: :noproc}}} = Manager.status(name)
  end

  test "the child spec is a permanent worker named after the manager" do
    assert %{id: :my_shm, start: {Manager, :start_link, [[name: :my_shm]]}, shutdown: 15_000} =
             Manager.child_spec(name: :my_shm)

    assert %{id: Manager} = Manager.child_spec([])
  end

  @tag :beam_kill
  test "killing the BEAM (SIGKILL) leaves no node process and no segment behind",
       %{suffix: suffix, shm_dir: shm_dir, log_path: log_path, os_pids: os_pids} do
    elixir = System.find_executable("elixir") || flunk("elixir is not on the PATH")
    script = Path.expand("../scripts/manager_child.exs", __DIR__)
    ebin = Application.app_dir(:snakepit_shm, "ebin")

    port =
      Port.open({:spawn_executable, elixir}, [
        :binary,
        :exit_status,
        {:line, 4096},
        {:args,
         [
           "-pa",
           ebin,
           script,
           shm_dir,
           "snktest_mgr_child_#{suffix}",
           "snktest_mgr_beam_#{suffix}",
           log_path
         ]}
      ])

    {:os_pid, port_pid} = Port.info(port, :os_pid)
    remember(os_pids, port_pid)
    [_node, java_pid, beam_pid, segment] = await_ready(port)
    remember(os_pids, beam_pid)
    remember(os_pids, java_pid)
    assert OsProcess.alive?(java_pid)
    assert File.exists?(segment)

    :ok = OsProcess.signal(beam_pid, "KILL")
    assert_receive {^port, {:exit_status, 137}}, @up_ms

    # The kernel closed the node's stdin with the BEAM: --exit-on-stdin-eof ends it,
    # and it unlinks its segments on the way out.
    assert OsProcess.wait_exit(java_pid, 10_000),
           "the node (OS pid #{java_pid}) still runs 10 s after its BEAM was killed"

    refute File.exists?(segment)
    assert Segments.list(shm_dir) == []
  end

  # A process (not linked to the test) that allocates a region and waits.
  defp spawn_holder(node, size_bytes) do
    parent = self()

    pid =
      spawn(fn ->
        send(parent, {:allocated, self(), SnakepitShm.allocate(node, size_bytes)})
        Process.sleep(:infinity)
      end)

    receive do
      {:allocated, ^pid, {:ok, region}} -> {pid, region}
      {:allocated, ^pid, error} -> flunk("the holder could not allocate: #{inspect(error)}")
    after
      5_000 -> flunk("the holder process did not allocate")
    end
  end

  defp await_ready(port, lines \\ []) do
    receive do
      {^port, {:data, {:eol, "READY " <> rest}}} ->
        [node, java_pid, beam_pid, segment] = String.split(rest, " ")
        [node, String.to_integer(java_pid), String.to_integer(beam_pid), segment]

      {^port, {:data, {_, line}}} ->
        await_ready(port, [line | lines])

      {^port, {:exit_status, status}} ->
        flunk("the child BEAM exited with #{status}:\n" <> Enum.join(Enum.reverse(lines), "\n"))
    after
      @up_ms ->
        flunk("the child BEAM printed no READY line:\n" <> Enum.join(Enum.reverse(lines), "\n"))
    end
  end
end
