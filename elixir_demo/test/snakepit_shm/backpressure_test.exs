defmodule SnakepitShm.BackpressureTest do
  # Not async: it lowers the node's mailbox bound for everyone.
  use ExUnit.Case, async: false

  alias SnakepitShm.TestNode

  setup do
    server = TestNode.server()
    {:ok, config} = SnakepitShm.config(server)

    on_exit(fn ->
      {:ok, _} =
        SnakepitShm.config_set(server, %{max_mailbox_messages: config.max_mailbox_messages})
    end)

    %{server: server}
  end

  test "a node that falls behind answers :busy instead of queueing without bound",
       %{server: server} do
    {:ok, _} = SnakepitShm.config_set(server, %{max_mailbox_messages: 10})
    holder = spawn(fn -> Process.sleep(:infinity) end)
    parent = self()
    callers = 2000

    for _ <- 1..callers do
      spawn(fn ->
        send(parent, GenServer.call({:snakepit_shm, server}, {:allocate, 64, [holder: holder]}))
      end)
    end

    replies = for _ <- 1..callers, do: receive(do: (reply -> reply))
    busy = Enum.filter(replies, &match?({:error, %{code: :busy}}, &1))
    ok = Enum.filter(replies, &match?({:ok, _}, &1))

    assert length(busy) + length(ok) == callers
    assert busy != [], "2000 simultaneous calls never exceeded a bound of 10"
    assert [{:error, %{limit: 10, queued: queued, remediation: remediation}} | _] = busy
    assert queued > 10
    assert remediation =~ "max_mailbox_messages"

    # releases are never shed, and the node serves normally once the queue drains
    {:ok, %{regions: regions}} = SnakepitShm.stats(server)
    assert regions >= length(ok)
    Process.exit(holder, :kill)
    assert {:ok, _} = SnakepitShm.allocate(server, 64)
  end
end
