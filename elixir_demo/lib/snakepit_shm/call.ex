defmodule SnakepitShm.Call do
  @moduledoc """
  One `GenServer.call` to the snakepit-shm node that leaves nothing behind on timeout.

  The node is a JInterface node: it replies to the caller's *pid*, not to the alias
  that `GenServer.call` sets up, so a reply arriving after the caller gave up would land
  in the caller's mailbox and stay there. To avoid that, each call runs in a short-lived
  proxy process (`spawn_monitor/1`): the proxy makes the call and sends the result to
  the caller. When `timeout_ms` passes first, the caller kills the proxy and a late
  reply is delivered to a dead pid, where it vanishes.

  Because the node sees the proxy as the caller, requests that name a holder must name
  it explicitly; `SnakepitShm` does that for `allocate`, `acquire`, `release` and `free`.

  The node's error replies (`{:error, map}`) are turned into `SnakepitShm.Error`
  structs here, the map's other keys going to `details`; failures to reach the node
  are mapped onto the contract's codes:

    * `:timeout` — no reply within `timeout_ms` (the request may still have been
      carried out by the node);
    * `:not_found` with `details.reason: :nodedown` — the node is not reachable (not running,
      wrong cookie, or the connection dropped). `:not_found` is the contract code that
      fits "the thing you addressed does not exist"; `details.reason` tells it apart
      from a region that is not found;
    * `:platform_error` — any other exit of `GenServer.call`.
  """

  alias SnakepitShm.Error

  @typedoc "A node name, or `{registered_name, node}`."
  @type server :: node() | {atom(), node()}

  @typedoc "Milliseconds to wait for the reply; `0` gives up at once."
  @type timeout_ms :: non_neg_integer()

  @registered_name :snakepit_shm

  @doc """
  Sends `request` to `server` and waits at most `timeout_ms` for the reply.

  Returns the node's reply (`:ok`, `{:ok, term}`, or `{:error, %SnakepitShm.Error{}}`
  made from the node's error map), or an `{:error, %SnakepitShm.Error{}}` built here
  when the node could not be reached in time.
  """
  @spec call(server(), term(), timeout_ms()) :: term()
  def call(server, request, timeout_ms)
      when is_integer(timeout_ms) and timeout_ms >= 0 do
    destination = destination(server)
    caller = self()
    tag = make_ref()

    {proxy, monitor_ref} =
      spawn_monitor(fn -> send(caller, {tag, proxy_call(destination, request)}) end)

    receive do
      {^tag, result} ->
        Process.demonitor(monitor_ref, [:flush])
        to_reply(result, destination)

      {:DOWN, ^monitor_ref, :process, ^proxy, reason} ->
        Error.new(
          :platform_error,
          "the proxy process of a snakepit-shm call exited: #{inspect(reason)}",
          "this is a bug in the client; please report it with the request",
          %{call: request}
        )
    after
      timeout_ms -> give_up(proxy, monitor_ref, tag, destination, request, timeout_ms)
    end
  end

  @doc """
  The `{registered_name, node}` a server refers to.

      iex> SnakepitShm.Call.destination(:"shm@host")
      {:snakepit_shm, :"shm@host"}
  """
  @spec destination(server()) :: {atom(), node()}
  def destination({name, node}) when is_atom(name) and is_atom(node), do: {name, node}
  def destination(node) when is_atom(node), do: {@registered_name, node}

  @spec proxy_call({atom(), node()}, term()) :: {:reply, term()} | {:exit, term()}
  defp proxy_call(destination, request) do
    {:reply, GenServer.call(destination, request, :infinity)}
  catch
    :exit, reason -> {:exit, reason}
  end

  # Kills the proxy, then waits for its DOWN message: a result the proxy sent before it
  # died is ordered before DOWN, so after DOWN the mailbox holds it or never will.
  @spec give_up(pid(), reference(), reference(), {atom(), node()}, term(), timeout_ms()) ::
          term()
  defp give_up(proxy, monitor_ref, tag, destination, request, timeout_ms) do
    Process.exit(proxy, :kill)

    receive do
      {:DOWN, ^monitor_ref, :process, ^proxy, _reason} -> :ok
    end

    receive do
      {^tag, result} -> to_reply(result, destination)
    after
      0 -> timeout_error(destination, request, timeout_ms)
    end
  end

  # The one place where the node's error maps become `SnakepitShm.Error` structs.
  @spec to_reply({:reply, term()} | {:exit, term()}, {atom(), node()}) :: term()
  defp to_reply({:reply, {:error, error}}, _destination), do: {:error, Error.from_map(error)}
  defp to_reply({:reply, reply}, _destination), do: reply
  defp to_reply({:exit, reason}, destination), do: exit_error(unwrap(reason), destination)

  @spec unwrap(term()) :: term()
  defp unwrap({reason, {GenServer, :call, _args}}), do: reason
  defp unwrap(reason), do: reason

  @spec exit_error(term(), {atom(), node()}) :: {:error, Error.t()}
  defp exit_error(reason, {name, node})
       when reason in [:noconnection, :noproc] or
              (is_tuple(reason) and elem(reason, 0) == :nodedown) do
    unreachable(name, node)
  end

  defp exit_error(reason, {_name, node}) do
    Error.new(
      :platform_error,
      "the call to snakepit-shm node #{node} failed: #{inspect(reason)}",
      "check the node's log; SnakepitShm.health/1 reports its state",
      %{node: node, reason: reason}
    )
  end

  @doc """
  The error returned when the node cannot be reached: code `:not_found`,
  `details: %{reason: :nodedown, node: node}`.
  """
  @spec unreachable(atom(), node()) :: {:error, Error.t()}
  def unreachable(name, node) do
    Error.new(
      :not_found,
      "snakepit-shm node #{node} is not reachable (no process #{name} there, " <>
        "or no connection)",
      "start it with `java_node/bin/snakepit-shm node`, check that this BEAM is " <>
        "distributed (Node.alive?/0) and uses the node's cookie; " <>
        "SnakepitShm.connect/2 reports which of these fails",
      %{node: node, reason: :nodedown}
    )
  end

  @spec timeout_error({atom(), node()}, term(), timeout_ms()) :: {:error, Error.t()}
  defp timeout_error({_name, node}, request, timeout_ms) do
    Error.new(
      :timeout,
      "snakepit-shm node #{node} did not answer #{request_name(request)} " <>
        "within #{timeout_ms} ms",
      "retry with a larger timeout_ms; the node may still have carried out the request " <>
        "(an allocate that timed out may hold a region for the caller until it exits)",
      %{node: node, timeout_ms: timeout_ms}
    )
  end

  @spec request_name(term()) :: String.t()
  defp request_name(request) when is_tuple(request) and tuple_size(request) > 0,
    do: inspect(elem(request, 0))

  defp request_name(request), do: inspect(request)
end
