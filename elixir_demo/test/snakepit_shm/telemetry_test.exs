defmodule SnakepitShm.TelemetryTest do
  # Handlers are global, and every test's client calls emit events: each handler here
  # forwards only the events emitted by its own test process (handlers run in the
  # emitting process).
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  alias SnakepitShm.{Telemetry, TestNode}

  @calls [
    :allocate,
    :allocate_many,
    :acquire,
    :release,
    :release_many,
    :free,
    :info,
    :list,
    :release_session,
    :stats,
    :health,
    :gc,
    :config,
    :config_set,
    :ping,
    :report,
    :subscribe,
    :unsubscribe,
    :write,
    :read,
    :write_consistent,
    :read_consistent,
    :call
  ]

  @doc false
  def forward(event, measurements, metadata, %{pid: pid}) do
    if self() == pid, do: send(pid, {:event, event, measurements, metadata})
  end

  # Attaches `forward/4` to every phase of every client call, for this test process.
  defp attach_client_events(context) do
    id = {__MODULE__, context.test}

    events =
      for call <- @calls, phase <- [:start, :stop, :exception], do: [:snakepit, :shm, call, phase]

    :ok = Telemetry.attach_many(id, events, &__MODULE__.forward/4, %{pid: self()})
    on_exit(fn -> Telemetry.detach(id) end)
    %{server: TestNode.server()}
  end

  describe "handlers" do
    test "the built-in dispatcher is used without the :telemetry package" do
      expected = if Code.ensure_loaded?(:telemetry), do: :telemetry, else: :builtin
      assert Telemetry.backend() == expected
    end

    test "attach, execute, list and detach follow :telemetry's semantics", context do
      id = {__MODULE__, context.test}
      event = [:snakepit_test, :custom, :event]
      config = %{pid: self()}

      assert :ok = Telemetry.attach(id, event, &__MODULE__.forward/4, config)

      assert {:error, :already_exists} =
               Telemetry.attach(id, [:snakepit_test, :other], &__MODULE__.forward/4, config)

      assert [%{id: ^id, event_name: ^event, config: ^config}] =
               Telemetry.list_handlers([:snakepit_test, :custom])

      assert :ok = Telemetry.execute(event, %{value: 1}, %{tag: :a})
      assert_received {:event, ^event, %{value: 1}, %{tag: :a}}

      # Only the exact event name reaches the handler.
      :ok = Telemetry.execute([:snakepit_test, :custom], %{value: 2}, %{})
      refute_received {:event, _, %{value: 2}, _}

      assert :ok = Telemetry.detach(id)
      assert {:error, :not_found} = Telemetry.detach(id)
      assert Telemetry.list_handlers([:snakepit_test, :custom]) == []
      :ok = Telemetry.execute(event, %{value: 3}, %{})
      refute_received {:event, _, %{value: 3}, _}
    end

    test "a bad event name is refused" do
      assert_raise ArgumentError, ~r/non-empty list of atoms/, fn ->
        Telemetry.attach(:bad, "event", &__MODULE__.forward/4, nil)
      end
    end

    test "a handler that raises is detached and logged; the others and the caller go on",
         context do
      event = [:snakepit_test, :raising, context.test]
      bad = {__MODULE__, context.test, :bad}
      good = {__MODULE__, context.test, :good}
      raising = fn _event, _measurements, _metadata, _config -> raise "boom in handler" end

      :ok = Telemetry.attach(bad, event, raising, nil)
      :ok = Telemetry.attach(good, event, &__MODULE__.forward/4, %{pid: self()})
      on_exit(fn -> Telemetry.detach(good) end)

      log = capture_log(fn -> assert :ok = Telemetry.execute(event, %{n: 1}, %{}) end)

      assert log =~ "#{inspect(bad)} has failed and has been detached"
      assert log =~ "boom in handler"
      assert_received {:event, ^event, %{n: 1}, %{}}
      assert [%{id: ^good}] = Telemetry.list_handlers(event)

      # Detached: the next event reaches only the good handler and logs nothing.
      assert capture_log(fn -> :ok = Telemetry.execute(event, %{n: 2}, %{}) end) == ""
      assert_received {:event, ^event, %{n: 2}, %{}}
    end
  end

  describe "client events" do
    setup :attach_client_events

    test "allocate emits start and stop with duration, bytes and metadata", %{server: server} do
      session = TestNode.unique("tel")

      assert {:ok, region} =
               SnakepitShm.allocate(server, 5000, session: session, tenant: "tel-tenant")

      assert_received {:event, [:snakepit, :shm, :allocate, :start], start, start_meta}
      assert %{system_time: system_time, monotonic_time: start_time} = start
      assert is_integer(system_time) and is_integer(start_time)

      assert %{server: ^server, call: :allocate, session: ^session, tenant: "tel-tenant"} =
               start_meta

      refute Map.has_key?(start_meta, :result)

      assert_received {:event, [:snakepit, :shm, :allocate, :stop], stop, stop_meta}
      assert %{duration: duration, monotonic_time: stop_time, bytes: 5000} = stop
      assert is_integer(duration) and duration > 0
      assert stop_time - start_time == duration

      assert %{
               server: ^server,
               call: :allocate,
               result: :ok,
               code: nil,
               session: ^session,
               tenant: "tel-tenant"
             } = stop_meta

      assert stop_meta.id == region.id
      assert stop_meta.telemetry_span_context == start_meta.telemetry_span_context
      refute_received {:event, [:snakepit, :shm, :allocate, :exception], _, _}

      :ok = SnakepitShm.release(server, region.id, tenant: "tel-tenant")
      assert_received {:event, [:snakepit, :shm, :release, :stop], release, release_meta}
      refute Map.has_key?(release, :bytes)
      assert %{result: :ok, code: nil, id: id, tenant: "tel-tenant"} = release_meta
      assert id == region.id
    end

    test "an error reply is result :error with its code; tokens never reach metadata",
         %{server: server} do
      {:ok, region} = SnakepitShm.allocate(server, 64)
      wrong = String.duplicate("0", 32)

      assert {:error, %{code: :forbidden}} = SnakepitShm.acquire(server, %{region | token: wrong})
      assert_received {:event, [:snakepit, :shm, :acquire, :stop], _, meta}
      assert %{result: :error, code: :forbidden, call: :acquire} = meta
      assert meta.id == region.id
      refute Map.has_key?(meta, :token)
      refute inspect(meta) =~ wrong
      refute inspect(meta) =~ region.token

      unknown = "00000000000000ff"
      assert {:error, %{code: :not_found}} = SnakepitShm.info(server, unknown)

      assert_received {:event, [:snakepit, :shm, :info, :stop], _,
                       %{result: :error, code: :not_found, id: ^unknown}}

      :ok = SnakepitShm.release(server, region.id)
    end

    test "batch, payload and consistent calls carry the bytes they move", %{server: server} do
      assert {:ok, [a, b]} = SnakepitShm.allocate_many(server, [100, 300])
      assert_received {:event, [:snakepit, :shm, :allocate_many, :stop], %{bytes: 400}, _}

      :ok = SnakepitShm.write(a, 0, ["ab", "cd"])
      assert_received {:event, [:snakepit, :shm, :write, :stop], %{bytes: 4}, write_meta}
      assert %{server: nil, call: :write, result: :ok, id: id} = write_meta
      assert id == a.id

      {:ok, "abcd"} = SnakepitShm.read(a, 0, 4)
      assert_received {:event, [:snakepit, :shm, :read, :stop], %{bytes: 4}, %{result: :ok}}

      assert {:error, %{code: :invalid_request}} = SnakepitShm.read(a, 90, 20)

      assert_received {:event, [:snakepit, :shm, :read, :stop], %{bytes: 20},
                       %{result: :error, code: :invalid_request}}

      :ok = SnakepitShm.write_consistent(server, b.id, 0, "xyz")
      assert_received {:event, [:snakepit, :shm, :write_consistent, :stop], %{bytes: 3}, meta}
      assert %{server: ^server, result: :ok} = meta

      {:ok, "xyz"} = SnakepitShm.read_consistent(server, b.id, 0, 3)
      assert_received {:event, [:snakepit, :shm, :read_consistent, :stop], %{bytes: 3}, _}

      {:ok, %{released: 2}} = SnakepitShm.release_many(server, [a.id, b.id])
      assert_received {:event, [:snakepit, :shm, :release_many, :stop], _, %{result: :ok}}
    end

    test "every node call emits its own span", %{server: server} do
      calls = [
        stats: fn -> SnakepitShm.stats(server) end,
        health: fn -> SnakepitShm.health(server) end,
        config: fn -> SnakepitShm.config(server) end,
        ping: fn -> SnakepitShm.ping(server) end,
        report: fn -> SnakepitShm.report(server) end,
        list: fn -> SnakepitShm.list(server, session: "none") end,
        release_session: fn -> SnakepitShm.release_session(server, TestNode.unique("s")) end,
        call: fn -> SnakepitShm.call(server, :ping) end
      ]

      for {call, fun} <- calls do
        assert {:ok, _} = fun.()
        assert_received {:event, [:snakepit, :shm, ^call, :start], _, %{call: ^call}}
        assert_received {:event, [:snakepit, :shm, ^call, :stop], _, %{result: :ok} = meta}
        if call == :call, do: assert(meta.request == :ping)
      end

      # No nested events: the raw call does not go through another instrumented call.
      refute_received {:event, [:snakepit, :shm, :ping, _], _, _}
    end

    test "a call the client refuses (bad timeout) is a span with code :invalid_request",
         %{server: server} do
      assert {:error, %SnakepitShm.Error{code: :invalid_request}} =
               SnakepitShm.call(server, :ping, -1)

      assert_received {:event, [:snakepit, :shm, :call, :start], _, _}
      assert_received {:event, [:snakepit, :shm, :call, :stop], measurements, meta}
      assert %{duration: duration} = measurements
      assert is_integer(duration)
      assert %{result: :error, code: :invalid_request} = meta
      refute_received {:event, [:snakepit, :shm, :call, :exception], _, _}
    end

    test "a node that cannot be reached is result :error, code :not_found" do
      server = :snktest_nobody_here@localhost
      assert {:error, %{details: %{reason: :nodedown}}} = SnakepitShm.ping(server)

      assert_received {:event, [:snakepit, :shm, :ping, :stop], _,
                       %{server: ^server, result: :error, code: :not_found}}
    end
  end
end
