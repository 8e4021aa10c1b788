defmodule SnakepitShm.Events do
  @moduledoc """
  Forwards the snakepit-shm node's events to telemetry handlers.

  A process that subscribes to the node (`SnakepitShm.subscribe/2`) and re-emits each
  `{:snakepit_shm_event, event, measurements, metadata}` it receives through
  `SnakepitShm.Telemetry.execute/3`, with `server` added to the metadata. The events —
  alerts raised and cleared, holders that died, sweeps, security events — are listed in
  `SnakepitShm.Telemetry`. Handlers run in this process.

      children = [
        {SnakepitShm.Events, server: :"snakepit_shm@myhost"}
      ]

  The node links to its subscribers, so this process traps exits. When the node goes
  away (its connection drops: `{:nodedown, node}`, or the link's exit signal) it tries
  to subscribe again every `retry_ms` until the node answers, so a restarted node is
  picked up by itself; events the node raised while nobody was subscribed are not
  replayed. It emits two events of its own:

    * `[:snakepit, :shm, :events, :subscribed]` — `%{attempts: n}` (failed attempts
      before this one), metadata `%{server}`;
    * `[:snakepit, :shm, :events, :disconnected]` — `%{}`, metadata `%{server, reason}`.

  When it stops it unsubscribes (best effort).
  """

  use GenServer

  require Logger

  alias SnakepitShm.Telemetry

  @default_retry_ms 1_000
  @default_timeout_ms 5_000

  @typedoc """
  Options of `start_link/1`:

    * `:server` (required) — the node, as for `SnakepitShm` calls;
    * `:name` — a name to register this process under (`GenServer.start_link/3`);
    * `:retry_ms` — how often to try to subscribe while the node is down (default 1000);
    * `:timeout_ms` — timeout of each subscribe call (default 5000);
    * `:id` — the child spec id (default `{SnakepitShm.Events, server}`).
  """
  @type option ::
          {:server, SnakepitShm.server()}
          | {:name, GenServer.name()}
          | {:retry_ms, pos_integer()}
          | {:timeout_ms, pos_integer()}
          | {:id, term()}

  @typedoc "What `status/1` returns."
  @type status :: %{
          server: SnakepitShm.server(),
          subscribed: boolean(),
          subscriptions: non_neg_integer(),
          forwarded: non_neg_integer(),
          failed_attempts: non_neg_integer(),
          last_error: map() | nil
        }

  @doc "A child spec; `opts` as for `start_link/1`."
  @spec child_spec([option()]) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{
      id: Keyword.get(opts, :id, {__MODULE__, Keyword.get(opts, :server)}),
      start: {__MODULE__, :start_link, [opts]}
    }
  end

  @doc """
  Starts the forwarder, linked to the caller. It returns at once; the first subscribe
  happens right after (a call to `status/1` made after `start_link/1` returns sees its
  outcome).
  """
  @spec start_link([option()]) :: GenServer.on_start()
  def start_link(opts) when is_list(opts) do
    server = Keyword.get(opts, :server)

    unless valid_server?(server) do
      raise ArgumentError,
            "SnakepitShm.Events needs server: a node name or {name, node}, got #{inspect(server)}"
    end

    gen_opts = if opts[:name], do: [name: opts[:name]], else: []
    GenServer.start_link(__MODULE__, opts, gen_opts)
  end

  @doc "Whether the forwarder is subscribed now, and its counters."
  @spec status(GenServer.server()) :: status()
  def status(events), do: GenServer.call(events, :status)

  @doc "Stops the forwarder; it unsubscribes first."
  @spec stop(GenServer.server()) :: :ok
  def stop(events), do: GenServer.stop(events)

  # ---------------------------------------------------------------------------------
  # Callbacks
  # ---------------------------------------------------------------------------------

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)
    server = Keyword.fetch!(opts, :server)

    state = %{
      server: server,
      node: node_of(server),
      retry_ms: Keyword.get(opts, :retry_ms, @default_retry_ms),
      timeout_ms: Keyword.get(opts, :timeout_ms, @default_timeout_ms),
      subscribed: false,
      subscriptions: 0,
      forwarded: 0,
      failed_attempts: 0,
      last_error: nil,
      timer: nil
    }

    {:ok, state, {:continue, :subscribe}}
  end

  @impl true
  def handle_continue(:subscribe, state), do: {:noreply, subscribe(state)}

  @impl true
  def handle_call(:status, _from, state) do
    status =
      Map.take(state, [:server, :subscribed, :subscriptions, :forwarded, :failed_attempts])
      |> Map.put(:last_error, state.last_error)

    {:reply, status, state}
  end

  @impl true
  def handle_info(
        {:snakepit_shm_event, [:snakepit, :shm | _] = event, measurements, metadata},
        state
      )
      when is_map(measurements) and is_map(metadata) do
    Telemetry.execute(event, measurements, Map.put_new(metadata, :server, state.server))
    {:noreply, %{state | forwarded: state.forwarded + 1}}
  end

  def handle_info({:snakepit_shm_event, event, _measurements, _metadata}, state) do
    Logger.debug(
      "SnakepitShm.Events: ignored an event not under [:snakepit, :shm]: #{inspect(event)}"
    )

    {:noreply, state}
  end

  def handle_info(:retry, state), do: {:noreply, subscribe(%{state | timer: nil})}

  def handle_info({:nodedown, node}, %{node: node} = state),
    do: {:noreply, lost(state, :nodedown)}

  # The node's link to this subscriber broke: the node ended (:normal) or the
  # connection dropped (:noconnection).
  def handle_info({:EXIT, pid, reason}, %{node: node} = state)
      when is_pid(pid) and node(pid) == node,
      do: {:noreply, lost(state, reason)}

  def handle_info(message, state) do
    Logger.debug("SnakepitShm.Events: ignored #{inspect(message, limit: 10)}")
    {:noreply, state}
  end

  @impl true
  def terminate(_reason, state) do
    if state.subscribed do
      _ = SnakepitShm.unsubscribe(state.server, pid: self(), timeout_ms: 1_000)
    end

    :ok
  end

  # ---------------------------------------------------------------------------------
  # Helpers
  # ---------------------------------------------------------------------------------

  @spec subscribe(map()) :: map()
  defp subscribe(%{subscribed: true} = state), do: state

  defp subscribe(state) do
    # Watch the connection first: if it drops after the subscribe, :nodedown still comes.
    monitor_node(state.node, true)

    case SnakepitShm.subscribe(state.server, pid: self(), timeout_ms: state.timeout_ms) do
      {:ok, _} ->
        Telemetry.execute(
          [:snakepit, :shm, :events, :subscribed],
          %{attempts: state.failed_attempts},
          %{server: state.server}
        )

        %{
          state
          | subscribed: true,
            subscriptions: state.subscriptions + 1,
            failed_attempts: 0,
            last_error: nil
        }

      {:error, error} ->
        monitor_node(state.node, false)

        schedule_retry(%{
          state
          | failed_attempts: state.failed_attempts + 1,
            last_error: error
        })
    end
  end

  # The connection (or the node) went away: forget the subscription and retry.
  @spec lost(map(), term()) :: map()
  defp lost(%{subscribed: true} = state, reason) do
    Telemetry.execute([:snakepit, :shm, :events, :disconnected], %{}, %{
      server: state.server,
      reason: reason
    })

    monitor_node(state.node, false)
    schedule_retry(%{state | subscribed: false})
  end

  defp lost(state, _reason), do: state

  @spec schedule_retry(map()) :: map()
  defp schedule_retry(%{timer: nil} = state),
    do: %{state | timer: Process.send_after(self(), :retry, state.retry_ms)}

  defp schedule_retry(state), do: state

  @spec monitor_node(node(), boolean()) :: :ok
  defp monitor_node(node, flag) do
    if Node.alive?(), do: Node.monitor(node, flag)
    :ok
  end

  @spec node_of(SnakepitShm.server()) :: node()
  defp node_of({_name, node}), do: node
  defp node_of(node), do: node

  @spec valid_server?(term()) :: boolean()
  defp valid_server?({name, node}), do: is_atom(name) and is_atom(node) and node != nil
  defp valid_server?(node), do: is_atom(node) and node != nil
end
