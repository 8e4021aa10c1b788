defmodule SnakepitShm.ErrorStructTest do
  # Every public function of SnakepitShm fails with {:error, %SnakepitShm.Error{}}: for the
  # node's errors, the client's :timeout, an unreachable node (:nodedown) and arguments
  # the client refuses before sending anything.
  use ExUnit.Case, async: true

  alias SnakepitShm.{Error, TestNode}

  @unknown_id "00000000ffffffff"
  @some_token String.duplicate("ab", 16)

  setup do
    [_, host] = String.split(Atom.to_string(node()), "@")
    missing = :"snktest_missing_#{System.unique_integer([:positive])}@#{host}"
    %{server: TestNode.server(), missing: missing}
  end

  # {name, fun(server, opts)}: every function that talks to the node, with arguments that
  # are fine for the client; `opts` is where timeout_ms and the other options go.
  defp node_calls(session) do
    [
      ping: &SnakepitShm.ping(&1, &2),
      allocate: &SnakepitShm.allocate(&1, 64, &2),
      allocate_many: &SnakepitShm.allocate_many(&1, [64, 64], &2),
      release_many: &SnakepitShm.release_many(&1, [@unknown_id], &2),
      write_consistent: &SnakepitShm.write_consistent(&1, @unknown_id, 0, "x", &2),
      read_consistent: &SnakepitShm.read_consistent(&1, @unknown_id, 0, 1, &2),
      acquire: &SnakepitShm.acquire(&1, %{id: @unknown_id, token: @some_token}, &2),
      acquire_id: &SnakepitShm.acquire(&1, @unknown_id, &2),
      release: &SnakepitShm.release(&1, @unknown_id, &2),
      free: &SnakepitShm.free(&1, @unknown_id, &2),
      info: &SnakepitShm.info(&1, @unknown_id, &2),
      list: &SnakepitShm.list(&1, &2),
      release_session: &SnakepitShm.release_session(&1, session, &2),
      stats: &SnakepitShm.stats(&1, &2),
      health: &SnakepitShm.health(&1, &2),
      gc: &SnakepitShm.gc(&1, &2),
      config: &SnakepitShm.config(&1, &2),
      # An empty change: changes nothing even when it is carried out.
      config_set: &SnakepitShm.config_set(&1, %{}, &2),
      report: &SnakepitShm.report(&1, &2),
      subscribe: &SnakepitShm.subscribe(&1, &2),
      unsubscribe: &SnakepitShm.unsubscribe(&1, &2),
      call: fn server, opts -> SnakepitShm.call(server, :ping, opts[:timeout_ms] || 5_000) end,
      with_region: &SnakepitShm.with_region(&1, 64, &2, fn _region -> :ran end)
    ]
  end

  defp assert_error(reply, code, what) do
    assert {:error, %Error{code: ^code} = error} = reply,
           "#{what}: expected an Error of code #{code}, got #{inspect(reply)}"

    assert is_binary(error.message) and error.message != "", what
    assert is_binary(error.remediation) or is_nil(error.remediation), what
    assert is_map(error.details), what
    # The detail keys live in details only: the struct has exactly its own fields.
    assert error |> Map.from_struct() |> Map.keys() |> Enum.sort() ==
             [:__exception__, :code, :details, :message, :remediation]

    error
  end

  # Runs `fun` in a process of its own, so whatever a timed-out request still did on the
  # node for that process as holder or subscriber is undone when it exits.
  defp in_own_process(fun) do
    fun |> Task.async() |> Task.await(30_000)
  end

  describe "node errors" do
    test "are structs with the node's other keys in details", %{server: server} do
      cases = [
        {:allocate, SnakepitShm.allocate(server, 0), :invalid_request},
        {:allocate_many, SnakepitShm.allocate_many(server, [10, -1]), :invalid_request},
        {:release_many, SnakepitShm.release_many(server, [@unknown_id]), :not_found},
        {:write_consistent, SnakepitShm.write_consistent(server, @unknown_id, 0, "x"),
         :not_found},
        {:read_consistent, SnakepitShm.read_consistent(server, @unknown_id, 0, 1), :not_found},
        {:acquire, SnakepitShm.acquire(server, %{id: @unknown_id, token: @some_token}),
         :not_found},
        {:release, SnakepitShm.release(server, @unknown_id), :not_found},
        {:free, SnakepitShm.free(server, @unknown_id), :not_found},
        {:info, SnakepitShm.info(server, "not-an-id"), :invalid_request},
        {:list, SnakepitShm.list(server, bogus: 1), :invalid_request},
        {:release_session, SnakepitShm.release_session(server, 42), :invalid_request},
        {:health, SnakepitShm.health(server, bogus: 1), :invalid_request},
        {:config_set, SnakepitShm.config_set(server, %{bogus_key: 1}), :invalid_request},
        {:report, SnakepitShm.report(server, operator_key: "not-the-operator-key"), :forbidden},
        {:subscribe, SnakepitShm.subscribe(server, pid: :not_a_pid), :invalid_request},
        {:unsubscribe, SnakepitShm.unsubscribe(server, pid: :not_a_pid), :invalid_request},
        {:call, SnakepitShm.call(server, {:bogus, 1}), :invalid_request},
        {:with_region, SnakepitShm.with_region(server, -1, [], fn _ -> :ran end),
         :invalid_request}
      ]

      for {name, reply, code} <- cases, do: assert_error(reply, code, "#{name}")
    end

    test "keep the node's keys under details" do
      server = TestNode.server()

      error = assert_error(SnakepitShm.info(server, @unknown_id), :not_found, "info")
      assert %{reason: :unknown, id: @unknown_id} = error.details

      error = assert_error(SnakepitShm.allocate_many(server, [10, -1]), :invalid_request, "many")

      assert %{index: 1} = error.details
    end
  end

  test "a timeout is a struct for every call", %{server: server} do
    session = TestNode.unique("timeout")

    # The consistent calls wait at least the node's wait_ms plus 1 s (their own :timeout
    # comes from the node, after wait_ms), so timeout_ms: 0 does not end them early.
    for {name, fun} <- node_calls(session),
        name not in [:write_consistent, :read_consistent] do
      reply = in_own_process(fn -> fun.(server, timeout_ms: 0) end)
      error = assert_error(reply, :timeout, "#{name} with timeout_ms: 0")
      assert %{node: ^server, timeout_ms: 0} = error.details
    end

    reply = SnakepitShm.connect(server, timeout_ms: 0)
    assert_error(reply, :timeout, "connect with timeout_ms: 0")
  end

  test "an unreachable node is a struct for every call", %{missing: missing} do
    for {name, fun} <- node_calls("s") do
      error = assert_error(fun.(missing, []), :not_found, "#{name} to a missing node")
      assert %{reason: :nodedown, node: ^missing} = error.details
      assert error.remediation =~ "snakepit-shm"
    end

    error = assert_error(SnakepitShm.connect(missing), :not_found, "connect")
    assert %{reason: :nodedown, node: ^missing, epmd: :name_not_registered} = error.details
  end

  describe "arguments the client refuses" do
    test "are :invalid_request structs, for every call", %{server: server} do
      for {name, fun} <- node_calls("s"),
          {what, bad_server, bad_opts} <- [
            {"a server that is not a node", "snakepit_shm@host", []},
            {"a nil server", nil, []},
            {"opts that are not options", server, :bogus},
            {"opts that are not a keyword list", server, [1, 2]},
            {"a negative timeout", server, [timeout_ms: -1]},
            {"a timeout too large for receive", server, [timeout_ms: 5_000_000_000]},
            {"a timeout that is not an integer", server, [timeout_ms: "5"]}
          ],
          # call/3 takes the timeout itself, not options.
          not (name == :call and what =~ "opts") do
        reply =
          try do
            fun.(bad_server, bad_opts)
          rescue
            exception -> flunk("#{name} with #{what} raised #{inspect(exception)}")
          end

        assert_error(reply, :invalid_request, "#{name} with #{what}")
      end
    end

    test "for arguments that must be a list, a binary, a map or a function",
         %{server: server} do
      cases = [
        allocate_many: SnakepitShm.allocate_many(server, :not_a_list),
        release_many: SnakepitShm.release_many(server, @unknown_id),
        write_consistent: SnakepitShm.write_consistent(server, @unknown_id, 0, 42),
        config_set: SnakepitShm.config_set(server, grace_ms: 100),
        acquire: SnakepitShm.acquire(server, 42),
        with_region: SnakepitShm.with_region(server, 64, [], :not_a_function),
        connect: SnakepitShm.connect("not a node"),
        connect_opts: SnakepitShm.connect(server, :bogus),
        connect_cookie: SnakepitShm.connect(server, cookie: 42)
      ]

      for {name, reply} <- cases, do: assert_error(reply, :invalid_request, "#{name}")
    end

    test "for payload access through a descriptor", %{server: server} do
      {:ok, region} = SnakepitShm.allocate(server, 16)

      try do
        assert_error(SnakepitShm.write(region, 10, "too long here"), :invalid_request, "write")
        assert_error(SnakepitShm.write(region, -1, "x"), :invalid_request, "write at -1")
        assert_error(SnakepitShm.write(region, 0, [1 | 2]), :invalid_request, "not iodata")
        assert_error(SnakepitShm.read(region, 0, 17), :invalid_request, "read past the end")
        assert_error(SnakepitShm.read(region, 0, -1), :invalid_request, "negative read")
        read_only = %{region | access: :read_only}
        assert_error(SnakepitShm.write(read_only, 0, "x"), :forbidden, "read-only write")
        assert_error(SnakepitShm.read(:nope, 0, 1), :invalid_request, "not a descriptor")
        no_id = Map.delete(region, :id)
        assert_error(SnakepitShm.write(no_id, 100, "x"), :invalid_request, "no id")
        assert_error(SnakepitShm.read(no_id, 0, 1), :invalid_request, "no id, read")
      after
        :ok = SnakepitShm.release(server, region.id)
      end
    end
  end

  describe "SnakepitShm.Error as an exception" do
    test "raise shows the code, the message and the remediation" do
      {:error, error} = Error.new(:busy, "queue full", "retry later", %{queued: 11})

      exception = assert_raise Error, fn -> raise error end
      assert Exception.message(exception) == "busy: queue full\nremediation: retry later"

      assert_raise Error, "invalid_request: bad", fn ->
        raise Error, code: :invalid_request, message: "bad"
      end
    end

    test "unwrap!/1 gives the value or raises the error", %{server: server} do
      assert %{node: ^server} = Error.unwrap!(SnakepitShm.ping(server))
      assert :ok = Error.unwrap!(:ok)

      exception = assert_raise Error, fn -> Error.unwrap!(SnakepitShm.info(server, "bad")) end
      assert exception.code == :invalid_request
    end

    test "from_map/1 keeps the code, message and remediation and moves the rest" do
      assert Error.from_map(%{code: :busy, message: "m", remediation: "r", queued: 3}) ==
               %Error{code: :busy, message: "m", remediation: "r", details: %{queued: 3}}

      assert %Error{code: :platform_error, details: %{reply: :weird}} = Error.from_map(:weird)
    end
  end
end
