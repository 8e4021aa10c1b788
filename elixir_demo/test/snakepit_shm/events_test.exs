defmodule SnakepitShm.EventsTest do
  # Not async: it raises an alert by lowering the node's limits, and counts on the node's
  # events being caused by this test.
  use ExUnit.Case, async: false

  alias SnakepitShm.{Events, NodeProcess, OsProcess, Telemetry, TestNode}

  @moduletag timeout: 120_000
  # How long to wait for an event: alerts are checked every second, a resubscribe is
  # tried every retry_ms. A bound for a hang, not a measurement.
  @wait_ms 10_000

  @node_events [
    [:snakepit, :shm, :alert, :raised],
    [:snakepit, :shm, :alert, :cleared],
    [:snakepit, :shm, :holder, :down],
    [:snakepit, :shm, :sweep, :stop],
    [:snakepit, :shm, :security, :event],
    [:snakepit, :shm, :events, :subscribed],
    [:snakepit, :shm, :events, :disconnected]
  ]

  @doc false
  def forward(event, measurements, metadata, %{pid: pid}),
    do: send(pid, {:event, event, measurements, metadata, self()})

  setup context do
    id = {__MODULE__, context.test}
    :ok = Telemetry.attach_many(id, @node_events, &__MODULE__.forward/4, %{pid: self()})
    on_exit(fn -> Telemetry.detach(id) end)
    %{server: TestNode.server()}
  end

  defp start_events!(server, opts \\ []) do
    pid = start_supervised!({Events, [server: server] ++ opts})
    # The first subscribe runs before the first call is served.
    assert %{subscribed: true, subscriptions: 1} = Events.status(pid)
    assert_receive {:event, [:snakepit, :shm, :events, :subscribed], %{attempts: 0}, _, ^pid}
    pid
  end

  describe "forwarding" do
    setup %{server: server} do
      %{events: start_events!(server)}
    end

    test "a holder that dies is [:holder, :down], with its regions and references",
         %{server: server, events: events} do
      {holder, region} = TestNode.spawn_holder(4096, label: TestNode.unique("down"))
      Process.exit(holder, :kill)

      assert_receive {:event, [:snakepit, :shm, :holder, :down], measurements, metadata, ^events},
                     @wait_ms

      assert measurements == %{regions: 1, references: 1}
      assert %{holder: ^holder, server: ^server} = metadata
      assert TestNode.await_gone(region.id, System.monotonic_time(:millisecond)) >= 0
      assert %{forwarded: forwarded} = Events.status(events)
      assert forwarded >= 1
    end

    test "an acquire with a wrong token is a [:security, :event]", %{server: server} do
      {:ok, region} = SnakepitShm.allocate(server, 64)
      on_exit(fn -> SnakepitShm.release(server, region.id) end)
      bad = %{region | token: String.duplicate("f", 32)}

      assert {:error, %{code: :forbidden}} = SnakepitShm.acquire(server, bad)
      id = region.id

      assert_receive {:event, [:snakepit, :shm, :security, :event], %{count: 1},
                      %{id: ^id} = metadata, _},
                     @wait_ms

      assert %{kind: :bad_token, server: ^server} = metadata
      assert Map.has_key?(metadata, :call) and Map.has_key?(metadata, :detail)
      refute inspect(metadata) =~ region.token
    end

    test "an alert is raised, then cleared, with its value and recommendation",
         %{server: server} do
      {:ok, config} = SnakepitShm.config(server)

      on_exit(fn ->
        {:ok, _} =
          SnakepitShm.config_set(server, %{
            alert_capacity_percent: config.alert_capacity_percent,
            max_total_bytes: config.max_total_bytes
          })
      end)

      {:ok, region} = SnakepitShm.allocate(server, 1_048_576, label: TestNode.unique("alert"))
      on_exit(fn -> SnakepitShm.release(server, region.id) end)

      # 1 MiB of 32 MiB is 3 %, over a 1 % threshold.
      {:ok, _} =
        SnakepitShm.config_set(server, %{max_total_bytes: 33_554_432, alert_capacity_percent: 1})

      # Only capacity alerts: a slow machine may raise latency.calls meanwhile.
      assert_receive {:event, [:snakepit, :shm, :alert, :raised], measurements,
                      %{name: "capacity." <> _} = metadata, _},
                     @wait_ms

      assert %{value: value, threshold: threshold} = measurements
      assert is_float(value) and is_float(threshold)
      assert value >= threshold
      assert %{severity: severity, message: message} = metadata
      assert severity in [:warning, :critical]
      assert is_binary(message) and is_binary(metadata.recommendation)
      assert {:ok, %{alerts: [_ | _]}} = SnakepitShm.health(server)

      {:ok, _} =
        SnakepitShm.config_set(server, %{
          alert_capacity_percent: config.alert_capacity_percent,
          max_total_bytes: config.max_total_bytes
        })

      name = metadata.name

      assert_receive {:event, [:snakepit, :shm, :alert, :cleared], _, %{name: ^name}, _},
                     @wait_ms
    end

    test "a gc's sweep of the shm dir is [:sweep, :stop]", %{server: server} do
      assert {:ok, %{sweep: sweep}} = SnakepitShm.gc(server)

      assert_receive {:event, [:snakepit, :shm, :sweep, :stop], measurements, metadata, _},
                     @wait_ms

      assert %{scanned: scanned, reclaimed: reclaimed} = measurements
      assert scanned == sweep.scanned and reclaimed == sweep.reclaimed
      assert %{node: node, server: ^server} = metadata
      assert node == server
    end

    test "stopping the forwarder unsubscribes it", %{server: server, events: events} do
      {:ok, %{subscribers: before}} = SnakepitShm.stats(server)
      :ok = stop_supervised({Events, server})
      refute Process.alive?(events)
      {:ok, %{subscribers: after_stop}} = SnakepitShm.stats(server)
      assert after_stop == before - 1
    end
  end

  describe "the client's subscribe, unsubscribe and report" do
    test "a subscriber gets the raw messages until it unsubscribes", %{server: server} do
      # The node links to its subscribers; trap exits as the docs say.
      Process.flag(:trap_exit, true)
      assert {:ok, %{subscribed: true, subscribers: n}} = SnakepitShm.subscribe(server)
      assert n >= 1

      {holder, _region} = TestNode.spawn_holder(128)
      Process.exit(holder, :kill)

      assert_receive {:snakepit_shm_event, [:snakepit, :shm, :holder, :down], %{regions: 1},
                      %{holder: ^holder}},
                     @wait_ms

      assert {:ok, %{subscribed: false, was_subscribed: true}} = SnakepitShm.unsubscribe(server)
      assert {:ok, %{was_subscribed: false}} = SnakepitShm.unsubscribe(server)

      assert {:error, %{code: :invalid_request}} = SnakepitShm.subscribe(server, pid: :not_a_pid)
    end

    test "report returns the documented keys", %{server: server} do
      {:ok, region} = SnakepitShm.allocate(server, 1000, session: TestNode.unique("rep"))
      on_exit(fn -> SnakepitShm.release(server, region.id) end)

      assert {:ok, report} = SnakepitShm.report(server)

      for key <- [
            :generated_ms,
            :node,
            :shm_dir,
            :uptime_ms,
            :capacity,
            :usage,
            :headroom,
            :pool,
            :latency,
            :errors,
            :security,
            :alerts,
            :alert_history,
            :recommendations,
            :series,
            :config
          ] do
        assert Map.has_key?(report, key), "report has no #{key}: #{inspect(Map.keys(report))}"
      end

      assert report.node == server
      assert report.shm_dir == TestNode.shm_dir()

      assert %{
               shm_dir_total_bytes: _,
               shm_dir_free_bytes: _,
               max_total_bytes: _,
               bytes_in_use: in_use,
               bytes_reserved: _
             } = report.capacity

      assert in_use >= 1000
      assert %{regions: regions, bytes_by_session: by_session} = report.usage
      assert regions >= 1
      assert by_session[region.session] == 1000
      assert %{calls: _, operations: _} = report.latency
      assert is_list(report.recommendations) and is_list(report.series)

      # With an option it is sent as {:report, opts}: the node checks the keys.
      assert {:error, %{code: :invalid_request}} = SnakepitShm.report(server, no_such_key: 1)
    end

    test "info shows the region's history", %{server: server} do
      {:ok, region} = SnakepitShm.allocate(server, 64)
      {:ok, _} = SnakepitShm.acquire(server, region)
      :ok = SnakepitShm.release(server, region.id)

      assert {:ok, %{history: history}} = SnakepitShm.info(server, region.id)
      assert [:allocated, :acquired, :released] == Enum.map(history, & &1.event)
      assert Enum.all?(history, &(&1.who == self() and is_integer(&1.at_ms)))
      :ok = SnakepitShm.release(server, region.id)
    end
  end

  describe "a node that goes away" do
    setup do
      suffix = Base.encode16(:crypto.strong_rand_bytes(5), case: :lower)
      shm_dir = "/dev/shm/snktest-mix-ev-#{suffix}"
      log_path = Path.join(System.tmp_dir!(), "snktest-mix-ev-#{suffix}-node.log")
      File.mkdir!(shm_dir)
      File.chmod!(shm_dir, 0o700)
      {:ok, started} = Agent.start(fn -> [] end)

      on_exit(fn ->
        for os_pid <- Agent.get(started, & &1), do: :ok = OsProcess.ensure_exited(os_pid, 5_000)
        Agent.stop(started)
        File.rm_rf!(shm_dir)
        File.rm(log_path)
      end)

      opts = [
        name: "snktest_mix_ev_#{suffix}",
        cookie: NodeProcess.random_cookie(),
        shm_dir: shm_dir,
        stderr_path: log_path
      ]

      %{opts: opts, started: started}
    end

    test "is subscribed to again when it comes back", %{opts: opts, started: started} do
      first = start_node!(opts, started)
      server = first.node
      :ok = SnakepitShm.connect(server, cookie: opts[:cookie])
      events = start_events!(server, retry_ms: 200)

      :ok = NodeProcess.stop(first)

      assert_receive {:event, [:snakepit, :shm, :events, :disconnected], %{}, %{server: ^server},
                      ^events},
                     @wait_ms

      assert %{subscribed: false} = Events.status(events)

      second = start_node!(opts, started)
      assert second.node == server

      assert_receive {:event, [:snakepit, :shm, :events, :subscribed], %{attempts: attempts},
                      %{server: ^server}, ^events},
                     @wait_ms

      assert attempts >= 0
      assert %{subscribed: true, subscriptions: 2} = Events.status(events)

      # Events of the new run arrive.
      parent = self()

      holder =
        spawn(fn ->
          send(parent, {:allocated, SnakepitShm.allocate(server, 256)})
          Process.sleep(:infinity)
        end)

      assert_receive {:allocated, {:ok, _region}}, @wait_ms
      Process.exit(holder, :kill)

      assert_receive {:event, [:snakepit, :shm, :holder, :down], %{regions: 1},
                      %{holder: ^holder, server: ^server}, ^events},
                     @wait_ms

      :ok = stop_supervised({Events, server})
      :ok = NodeProcess.stop(second)
    end
  end

  defp start_node!(opts, started) do
    {:ok, node_process} = NodeProcess.start(opts)
    Agent.update(started, &[node_process.os_pid | &1])
    node_process
  end
end
