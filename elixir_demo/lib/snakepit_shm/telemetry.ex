defmodule SnakepitShm.Telemetry do
  @moduledoc """
  `:telemetry`-style events of the snakepit-shm client and node, under
  `[:snakepit, :shm, ...]`.

  When the [`:telemetry`](https://hex.pm/packages/telemetry) package is available
  (`Code.ensure_loaded?(:telemetry)`, checked once and remembered), `execute/3`,
  `attach/4`, `attach_many/4`, `detach/1` and `list_handlers/1` delegate to it, so the
  events reach every `:telemetry` handler (`Telemetry.Metrics` reporters and the like).
  This project does not depend on the package; without it the same functions dispatch
  to handlers kept here, in an ETS table owned by a small process started on the first
  `attach/4`. The semantics are those of `:telemetry`: a handler is
  `function(event, measurements, metadata, config)`, runs in the process that emits the
  event, and a handler that raises, throws or exits is detached and logged (at error
  level), so it never breaks the caller. `backend/0` tells which is used.

  ## Client events (`SnakepitShm`)

  Every function of `SnakepitShm` that talks to the node, and the payload functions
  `write/3` and `read/3`, emits a span:

    * `[:snakepit, :shm, call, :start]` — measurements `%{system_time: native,
      monotonic_time: native}`;
    * `[:snakepit, :shm, call, :stop]` — `%{duration: native, monotonic_time: native}`,
      plus `bytes` for `allocate` (the size), `allocate_many` (the sizes' sum),
      `write`/`write_consistent` (the data's size) and `read`/`read_consistent` (the
      length asked for);
    * `[:snakepit, :shm, call, :exception]` — `%{duration: native, monotonic_time:
      native}` when the call raised, threw or exited (it is re-raised after the event).

  `call` is the function's name: `:allocate`, `:allocate_many`, `:acquire`, `:release`,
  `:release_many`, `:free`, `:info`, `:list`, `:release_session`, `:stats`, `:health`,
  `:gc`, `:config`, `:config_set`, `:ping`, `:report`, `:subscribe`, `:unsubscribe`,
  `:write`, `:read`, `:write_consistent`, `:read_consistent`, and `:call` for the raw
  `SnakepitShm.call/3`. (`connect/2` emits the events of its `:ping`; `with_region/4`
  those of its `allocate` and `release`.) Durations are in native time units; convert
  with `System.convert_time_unit(duration, :native, :microsecond)`.

  Metadata of every event: `server` (the node, or `nil` for the payload functions,
  which do not talk to it), `call`, `telemetry_span_context` (a reference shared by the
  span's events), and where known `id`, `session`, `tenant` (and `request`, the
  request's name, for `:call`). `:stop` adds `result: :ok | :error` and `code` (the
  error's code, e.g. `:forbidden` or `:timeout`; `nil` on success); an allocation's
  `:stop` carries the new region's `id`. `:exception` adds `kind`, `reason` and
  `stacktrace`.

  ## Node events (`SnakepitShm.Events`)

  A `SnakepitShm.Events` process subscribes to the node and re-emits what it sends
  (PROTOCOL.md "Observability"), with `server` added to the metadata:

    * `[:snakepit, :shm, :alert, :raised]` and `[:snakepit, :shm, :alert, :cleared]` —
      `%{value, threshold}`, metadata `%{name, severity, message, recommendation}`;
    * `[:snakepit, :shm, :holder, :down]` — a holder process ended and its references
      were dropped: `%{regions, references}`, metadata `%{holder}`;
    * `[:snakepit, :shm, :sweep, :stop]` — a sweep of the shm dir for stale segments
      ran: the sweep's counters, metadata `%{node}`;
    * `[:snakepit, :shm, :security, :event]` — a denied or suspicious request:
      `%{count: 1}`, metadata `%{kind, call, who, id, tenant, detail}`.

  ## Example

      :ok =
        SnakepitShm.Telemetry.attach(
          "log-slow-calls",
          [:snakepit, :shm, :allocate, :stop],
          &MyApp.ShmMetrics.handle_event/4,
          %{threshold_us: 1_000}
        )
  """

  require Logger

  @typedoc "An event name: a list of atoms."
  @type event_name :: [atom(), ...]

  @typedoc "A handler id: any term, unique among attached handlers."
  @type handler_id :: term()

  @typedoc "A handler function: `fun(event, measurements, metadata, config)`."
  @type handler_function :: (event_name(), map(), map(), term() -> any())

  @typedoc "An attached handler, as `list_handlers/1` returns it."
  @type handler :: %{
          id: handler_id(),
          event_name: event_name(),
          function: handler_function(),
          config: term()
        }

  @table __MODULE__.Handlers
  @owner __MODULE__.Owner
  @backend_key {__MODULE__, :backend}

  # ---------------------------------------------------------------------------------
  # Emitting
  # ---------------------------------------------------------------------------------

  @doc """
  Emits `event` with `measurements` and `metadata` to every handler attached to it
  (`:telemetry.execute/3` when that package is available).
  """
  @spec execute(event_name(), map(), map()) :: :ok
  def execute(event, measurements, metadata)
      when is_list(event) and is_map(measurements) and is_map(metadata) do
    case :persistent_term.get(@backend_key, nil) do
      # The hot path: handlers attached here (the table's id is kept with the backend,
      # which spares the look-up of the table's name).
      {:builtin, table} -> dispatch(table, event, measurements, metadata)
      :telemetry -> apply(:telemetry, :execute, [event, measurements, metadata])
      # Nothing was ever attached.
      :builtin -> :ok
      nil -> if backend() == :telemetry, do: execute(event, measurements, metadata)
    end

    :ok
  end

  @doc """
  `:telemetry` when the `:telemetry` package is available, else `:builtin` (handlers
  kept by this module). Decided on first use and remembered.
  """
  @spec backend() :: :telemetry | :builtin
  def backend do
    case :persistent_term.get(@backend_key, nil) do
      nil ->
        backend = if Code.ensure_loaded?(:telemetry), do: :telemetry, else: :builtin
        :persistent_term.put(@backend_key, backend)
        backend

      {:builtin, _table} ->
        :builtin

      backend ->
        backend
    end
  end

  # ---------------------------------------------------------------------------------
  # Handlers
  # ---------------------------------------------------------------------------------

  @doc """
  Attaches `function` under `handler_id` to `event_name`; it is called as
  `function.(event_name, measurements, metadata, config)` in the emitting process.

  Returns `:ok`, or `{:error, :already_exists}` when a handler with that id is attached.
  """
  @spec attach(handler_id(), event_name(), handler_function(), term()) ::
          :ok | {:error, :already_exists}
  def attach(handler_id, event_name, function, config),
    do: attach_many(handler_id, [event_name], function, config)

  @doc "Like `attach/4`, for several events under one handler id."
  @spec attach_many(handler_id(), [event_name()], handler_function(), term()) ::
          :ok | {:error, :already_exists}
  def attach_many(handler_id, event_names, function, config)
      when is_list(event_names) and is_function(function, 4) do
    Enum.each(event_names, &check_event_name/1)

    case backend() do
      :telemetry ->
        apply(:telemetry, :attach_many, [handler_id, event_names, function, config])

      :builtin ->
        GenServer.call(ensure_owner(), {:attach, handler_id, event_names, function, config})
    end
  end

  @doc "Detaches the handler `handler_id`. Returns `:ok` or `{:error, :not_found}`."
  @spec detach(handler_id()) :: :ok | {:error, :not_found}
  def detach(handler_id) do
    case backend() do
      :telemetry ->
        apply(:telemetry, :detach, [handler_id])

      :builtin ->
        if :ets.whereis(@table) == :undefined,
          do: {:error, :not_found},
          else: GenServer.call(ensure_owner(), {:detach, handler_id})
    end
  end

  @doc "The handlers attached to events starting with `prefix` (`[]`: every handler)."
  @spec list_handlers([atom()]) :: [handler()]
  def list_handlers(prefix) when is_list(prefix) do
    case backend() do
      :telemetry ->
        apply(:telemetry, :list_handlers, [prefix])

      :builtin ->
        if :ets.whereis(@table) == :undefined do
          []
        else
          for {event, id, function, config} <- :ets.tab2list(@table),
              is_list(event),
              List.starts_with?(event, prefix) do
            %{id: id, event_name: event, function: function, config: config}
          end
        end
    end
  end

  @spec check_event_name(term()) :: :ok
  defp check_event_name(event) do
    if is_list(event) and event != [] and Enum.all?(event, &is_atom/1),
      do: :ok,
      else:
        raise(ArgumentError, "an event name is a non-empty list of atoms, got #{inspect(event)}")
  end

  # ---------------------------------------------------------------------------------
  # The built-in dispatch
  # ---------------------------------------------------------------------------------

  @spec dispatch(:ets.tid(), event_name(), map(), map()) :: :ok
  defp dispatch(table, event, measurements, metadata) do
    handlers =
      try do
        :ets.lookup(table, event)
      rescue
        # The table's owner was killed: no handlers; the next attach starts a new one.
        ArgumentError ->
          :persistent_term.put(@backend_key, :builtin)
          []
      end

    for {_event, id, function, config} <- handlers do
      run_handler(id, function, event, measurements, metadata, config)
    end

    :ok
  end

  @spec run_handler(handler_id(), handler_function(), event_name(), map(), map(), term()) ::
          :ok
  defp run_handler(id, function, event, measurements, metadata, config) do
    function.(event, measurements, metadata, config)
    :ok
  catch
    kind, reason ->
      stacktrace = __STACKTRACE__
      _ = detach(id)

      Logger.error(
        "snakepit-shm telemetry handler #{inspect(id)} has failed and has been detached " <>
          "(event #{inspect(event)}): " <> Exception.format(kind, reason, stacktrace)
      )

      :ok
  end

  # The owner of the handler table: started unlinked on first use, so the table
  # outlives whoever attached first. Attaching and detaching go through it (one writer:
  # an id is checked and inserted atomically); emitting reads the table directly.
  @spec ensure_owner() :: pid()
  defp ensure_owner do
    case Process.whereis(@owner) do
      nil ->
        case GenServer.start(__MODULE__.Owner, @table, name: @owner) do
          {:ok, pid} -> pid
          {:error, {:already_started, pid}} -> pid
        end

      pid ->
        pid
    end
  end

  defmodule Owner do
    @moduledoc false
    # Owns the handler table: rows `{event_name, id, function, config}` (a bag keyed by
    # event name, read by emitters) and `{{:id, id}, event_names}` for detaching.
    use GenServer

    @impl true
    def init(table) do
      ^table = :ets.new(table, [:named_table, :bag, :protected, read_concurrency: true])
      # From now on emitters look handlers up here.
      :persistent_term.put({SnakepitShm.Telemetry, :backend}, {:builtin, :ets.whereis(table)})
      {:ok, table}
    end

    @impl true
    def handle_call({:attach, id, events, function, config}, _from, table) do
      if :ets.member(table, {:id, id}) do
        {:reply, {:error, :already_exists}, table}
      else
        :ets.insert(table, {{:id, id}, events})
        :ets.insert(table, for(event <- events, do: {event, id, function, config}))
        {:reply, :ok, table}
      end
    end

    def handle_call({:detach, id}, _from, table) do
      case :ets.lookup(table, {:id, id}) do
        [{_key, events}] ->
          :ets.delete(table, {:id, id})

          # Row by row (not a match pattern: an id may be any term, even `:_`).
          for event <- events,
              {_event, row_id, _function, _config} = row <- :ets.lookup(table, event),
              row_id === id,
              do: :ets.delete_object(table, row)

          {:reply, :ok, table}

        [] ->
          {:reply, {:error, :not_found}, table}
      end
    end
  end
end
