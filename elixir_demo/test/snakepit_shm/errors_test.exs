defmodule SnakepitShm.ErrorsTest do
  use ExUnit.Case, async: true

  alias SnakepitShm.TestNode

  setup do
    %{server: TestNode.server()}
  end

  test "an unknown call is :invalid_request", %{server: server} do
    for request <- [:bogus, {:bogus, 1}, {:info}, "text", {:allocate, 10}] do
      assert {:error, %{code: :invalid_request, message: message}} =
               SnakepitShm.call(server, request)

      assert is_binary(message)
    end
  end

  test "bad arguments are :invalid_request", %{server: server} do
    assert {:error, %{code: :invalid_request}} = SnakepitShm.allocate(server, 0)
    assert {:error, %{code: :invalid_request}} = SnakepitShm.allocate(server, -1)
    assert {:error, %{code: :invalid_request}} = SnakepitShm.allocate(server, "10")
    assert {:error, %{code: :invalid_request}} = SnakepitShm.allocate(server, 10, bogus: 1)
    assert {:error, %{code: :invalid_request}} = SnakepitShm.allocate(server, 10, access: :wide)
    assert {:error, %{code: :invalid_request}} = SnakepitShm.info(server, "not-an-id")
    assert {:error, %{code: :invalid_request}} = SnakepitShm.release_session(server, 42)
  end

  test "a timed-out call leaves no late reply in the caller's mailbox", %{server: server} do
    assert {:error, %{code: :timeout, remediation: remediation}} =
             SnakepitShm.stats(server, timeout_ms: 0)

    assert is_binary(remediation)
    Process.sleep(300)
    assert Process.info(self(), :messages) == {:messages, []}
    assert {:ok, _} = SnakepitShm.stats(server)
  end

  test "casts and stray messages do not wedge the node", %{server: server} do
    GenServer.cast({:snakepit_shm, server}, :hello)
    send({:snakepit_shm, server}, {:junk, self()})
    assert {:ok, %{node: ^server}} = SnakepitShm.ping(server)
  end

  test "an unreachable node is :not_found with reason :nodedown" do
    [_, host] = String.split(Atom.to_string(node()), "@")
    missing = :"snktest_missing_#{System.unique_integer([:positive])}@#{host}"

    assert {:error, %{code: :not_found, details: %{reason: :nodedown}, remediation: remediation}} =
             SnakepitShm.stats(missing)

    assert remediation =~ "snakepit-shm node"

    assert {:error, %{code: :not_found, message: message}} = SnakepitShm.connect(missing)
    assert message =~ "lists no snktest_missing"
    assert message =~ "cookie"
  end
end
