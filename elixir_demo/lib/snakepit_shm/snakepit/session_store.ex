defmodule SnakepitShm.Snakepit.SessionStore do
  @moduledoc """
  Sessions whose shared-memory regions end with them, shaped like Snakepit's
  `Snakepit.Bridge.SessionStore` (docs/SNAKEPIT.md says what is mirrored and what is not).

      {:ok, _} = SessionStore.start_link(server: :"snakepit_shm@host")
      {:ok, session} = SessionStore.create_session("job-42", ttl: 600)
      {:ok, input} = SessionStore.allocate_in_session("job-42", 8_000_000, label: "input")
      # ... hand `input` to Python workers (SnakepitShm.Snakepit.Pool.execute_in_session/4)
      :ok = SessionStore.delete_session("job-42")   # every region of job-42 is freed

  ## Sessions and regions

  A session id is the `session` of every region allocated in it. Ending a session —
  `delete_session/2`, `end_session/2`, its TTL running out, or the store stopping —
  sends the node `{:release_session, id}` (with the session's tenant), which frees
  **every** region of that session the store may touch, also those someone else
  allocated with `session: id` and those a Python worker holds by OS pid: they are
  ended, their references dropped, and their memory returned after the node's grace
  period. Pooled segments that no longer hold a live region are released by the node
  (`pool_idle_release_ms`, or at once by `:gc`).

  Regions allocated through the store are held by the store's process (the node's
  `holder`), not by the caller: they outlive the process that asked for them and live
  as long as their session. Should the store itself die, the node drops its references
  and the regions go too — nothing outlives both the session and the store.

  The node links to the store (it is a holder), so the store traps exits. If the node
  goes away, the link breaks: the regions it had are gone, so the store forgets them
  (the sessions stay; `get_stats/1` counts `node_links_lost`).

  ## TTL

  As in Snakepit, a session expires when it has not been accessed for `ttl` seconds
  (default `default_ttl`, 3600). `get_session/2`, `update_session/3`,
  `store_worker_session/3` and `allocate_in_session/4` count as accesses, so a session in
  use does not expire. Expired sessions are ended every `cleanup_interval` ms (default
  60000) and by `cleanup_expired_sessions/1`. `ttl_ms:` gives a TTL in milliseconds.

  ## Errors

  Functions that can fail return `{:error, %SnakepitShm.Error{}}`: `:not_found` (no such
  session; `details.session`), `:invalid_request` (bad id, size or option),
  `:limit_exceeded` (`max_sessions`), and the node's own errors. Snakepit returns the
  bare `{:error, :not_found}` here; this adapter keeps the project's one error shape.
  """

  use GenServer

  require Logger

  alias SnakepitShm.Error
  alias SnakepitShm.Snakepit.{Session, Support}

  import Support, only: [check_keyword: 3, invalid: 2]

  @default_ttl_s 3600
  @default_cleanup_interval_ms 60_000
  @default_max_sessions 10_000
  @default_node_timeout_ms 5_000
  @call_timeout_ms 60_000
  @start_keys [
    :server,
    :name,
    :cleanup_interval,
    :default_ttl,
    :default_ttl_ms,
    :max_sessions,
    :tenant,
    :node_timeout_ms
  ]
  @create_keys [:ttl, :ttl_ms, :metadata, :tenant]
  @reserved_allocate_keys [:session, :tenant, :holder]
  @names %{
    what: "the session store",
    key: :store,
    start: "start it with SnakepitShm.Snakepit.SessionStore.start_link/1",
    limit: 50
  }

  @typedoc "The store: its registered name or pid (default `#{inspect(__MODULE__)}`)."
  @type server :: GenServer.server()

  @typedoc "A session id."
  @type session_id :: String.t()

  @typedoc "What the node said when a session ended."
  @type ended :: %{
          released: non_neg_integer(),
          other_tenants: non_neg_integer(),
          known: boolean()
        }

  # ------------------------------------------------------------------------------------
  # Starting
  # ------------------------------------------------------------------------------------

  @doc """
  Starts the store.

  Options:

    * `:server` (required) — the snakepit-shm node (`:"snakepit_shm@host"`);
    * `:name` — registered name (default `#{inspect(__MODULE__)}`; `nil`: none);
    * `:default_ttl` — session TTL in seconds (default 3600), or `:default_ttl_ms`;
    * `:cleanup_interval` — ms between expiry sweeps (default 60000; `0` turns them off);
    * `:max_sessions` — at most this many sessions at once (default 10000);
    * `:tenant` — default tenant of the sessions (default `nil`);
    * `:node_timeout_ms` — timeout of each call to the node (default 5000).

  Bad options are `{:error, %SnakepitShm.Error{code: :invalid_request}}` (the store is
  not started).
  """
  @spec start_link(keyword()) :: GenServer.on_start() | {:error, Error.t()}
  def start_link(opts \\ []) do
    with {:ok, config} <- validate_start(opts) do
      case config.name do
        nil -> GenServer.start_link(__MODULE__, config)
        name -> GenServer.start_link(__MODULE__, config, name: name)
      end
    end
  end

  # ------------------------------------------------------------------------------------
  # Snakepit.Bridge.SessionStore's functions
  # ------------------------------------------------------------------------------------

  @doc """
  Creates session `session_id`. Creating one that exists returns it unchanged (as
  Snakepit does for concurrent initialisation), unless another `tenant:` is asked for.

  Options: `ttl` (seconds) or `ttl_ms`, `metadata` (map), `tenant` (binary; default the
  store's). Returns `{:ok, %SnakepitShm.Snakepit.Session{}}`.
  """
  @spec create_session(session_id(), keyword()) :: {:ok, Session.t()} | {:error, Error.t()}
  def create_session(session_id, opts \\ []) when is_binary(session_id),
    do: create_session(__MODULE__, session_id, opts)

  @doc "`create_session/2` on the store `server`."
  @spec create_session(server(), session_id(), keyword()) ::
          {:ok, Session.t()} | {:error, Error.t()}
  def create_session(server, session_id, opts) do
    with :ok <- check_id(session_id),
         :ok <- check_keyword(opts, @create_keys, "create_session") do
      call(server, {:create_session, session_id, opts})
    end
  end

  @doc "The session, marked accessed. `{:error, %SnakepitShm.Error{code: :not_found}}` if unknown."
  @spec get_session(server(), session_id()) :: {:ok, Session.t()} | {:error, Error.t()}
  def get_session(server \\ __MODULE__, session_id) do
    with :ok <- check_id(session_id), do: call(server, {:get_session, session_id})
  end

  @doc """
  Replaces the session with `update_fn.(session)`, atomically. The function may change
  `metadata`, `ttl` (seconds) or `ttl_ms`, `last_worker_id`; changing `id`, `tenant` or
  `regions` is `:invalid_request`, as is a function that raises.
  """
  @spec update_session(server(), session_id(), (Session.t() -> Session.t())) ::
          {:ok, Session.t()} | {:error, Error.t()}
  def update_session(server \\ __MODULE__, session_id, update_fn)
      when is_function(update_fn, 1) do
    with :ok <- check_id(session_id), do: call(server, {:update_session, session_id, update_fn})
  end

  @doc """
  Ends the session: the node frees every region of it (`{:release_session, id}`), then
  the store forgets it. Idempotent, as in Snakepit: an unknown session is `:ok` (the
  node is still asked, so regions someone allocated with `session: id` go too).

  Returns `:ok`, or the node's error when it could not be told (the session is
  forgotten anyway; the regions the store held go when the node drops the store's
  references — when the store exits or the connection is lost). `end_session/2` returns
  the counts.
  """
  @spec delete_session(server(), session_id()) :: :ok | {:error, Error.t()}
  def delete_session(server \\ __MODULE__, session_id) do
    case end_session(server, session_id) do
      {:ok, _ended} -> :ok
      {:error, _} = error -> error
    end
  end

  @doc "Ends every expired session now; returns how many were ended."
  @spec cleanup_expired_sessions(server()) :: non_neg_integer()
  def cleanup_expired_sessions(server \\ __MODULE__),
    do: server |> call(:cleanup_expired_sessions) |> Error.unwrap!()

  @doc """
  Counters: `sessions_created`, `sessions_deleted`, `sessions_expired`, `cleanup_runs`,
  `current_sessions` (as Snakepit), and `regions_allocated`, `bytes_allocated`,
  `regions_released` (regions the node ended with sessions), `node_errors`,
  `node_links_lost`, `server`.
  """
  @spec get_stats(server()) :: map()
  def get_stats(server \\ __MODULE__), do: server |> call(:get_stats) |> Error.unwrap!()

  @doc "The ids of the live sessions."
  @spec list_sessions(server()) :: [session_id()]
  def list_sessions(server \\ __MODULE__), do: server |> call(:list_sessions) |> Error.unwrap!()

  @doc "True when the session exists (does not count as an access)."
  @spec session_exists?(server(), session_id()) :: boolean()
  def session_exists?(server \\ __MODULE__, session_id) do
    Session.valid_id?(session_id) and call(server, {:session_exists, session_id}) == {:ok, true}
  end

  @doc """
  Records that the session ran on pool worker `worker_id` (its `last_worker_id`) and
  marks it accessed. Creates the session with the default TTL when it does not exist,
  as Snakepit does.
  """
  @spec store_worker_session(server(), session_id(), String.t()) :: :ok | {:error, Error.t()}
  def store_worker_session(server \\ __MODULE__, session_id, worker_id)
      when is_binary(worker_id) do
    with :ok <- check_id(session_id),
         do: server |> call({:store_worker_session, session_id, worker_id}) |> Support.ok()
  end

  # ------------------------------------------------------------------------------------
  # Shared memory
  # ------------------------------------------------------------------------------------

  @doc """
  Allocates a region of `size_bytes` in session `session_id` (which must exist), held by
  the store, and returns its descriptor. It lives until the session ends (or
  `release_region/3`).

  `opts` are the node's allocate options `label`, `sensitive`, `access`, `ttl_ms`,
  `wait_ms`, plus `timeout_ms`; `session`, `tenant` and `holder` are set by the store.
  """
  @spec allocate_in_session(server(), session_id(), pos_integer(), keyword()) ::
          {:ok, SnakepitShm.descriptor()} | {:error, Error.t()}
  def allocate_in_session(server \\ __MODULE__, session_id, size_bytes, opts) do
    with :ok <- check_id(session_id),
         :ok <- check_size(size_bytes),
         :ok <- check_allocate_opts(opts) do
      extra_ms = Keyword.get(opts, :wait_ms, 0) + Keyword.get(opts, :timeout_ms, 0)

      call(
        server,
        {:allocate_in_session, session_id, size_bytes, opts},
        @call_timeout_ms + extra_ms
      )
    end
  end

  @doc "Releases one region of the session before the session ends."
  @spec release_region(server(), session_id(), String.t()) :: :ok | {:error, Error.t()}
  def release_region(server \\ __MODULE__, session_id, region_id) when is_binary(region_id) do
    with :ok <- check_id(session_id),
         do: server |> call({:release_region, session_id, region_id}) |> Support.ok()
  end

  @doc """
  The node's view of the session's regions (`SnakepitShm.list/2` filtered by session and
  the session's tenant): `{:ok, [info]}`. Empty once the session has ended.
  """
  @spec session_regions(server(), session_id()) :: {:ok, [map()]} | {:error, Error.t()}
  def session_regions(server \\ __MODULE__, session_id) do
    with :ok <- check_id(session_id), do: call(server, {:session_regions, session_id})
  end

  @doc """
  Ends the session like `delete_session/2` and returns what the node did:
  `{:ok, %{released: n, other_tenants: m, known: boolean}}` (`known`: the store had the
  session).
  """
  @spec end_session(server(), session_id()) :: {:ok, ended()} | {:error, Error.t()}
  def end_session(server \\ __MODULE__, session_id) do
    with :ok <- check_id(session_id), do: call(server, {:end_session, session_id})
  end

  @doc "The snakepit-shm node the store allocates on."
  @spec node_server(server()) :: node()
  def node_server(server \\ __MODULE__), do: server |> call(:node_server) |> Error.unwrap!()

  # ------------------------------------------------------------------------------------
  # GenServer
  # ------------------------------------------------------------------------------------

  @impl GenServer
  def init(config) do
    # The node links to its holders; a broken link must not kill the store.
    Process.flag(:trap_exit, true)

    state =
      Map.merge(config, %{
        sessions: %{},
        timer: schedule_cleanup(config.cleanup_interval),
        stats: %{
          sessions_created: 0,
          sessions_deleted: 0,
          sessions_expired: 0,
          cleanup_runs: 0,
          regions_allocated: 0,
          bytes_allocated: 0,
          regions_released: 0,
          node_errors: 0,
          node_links_lost: 0
        }
      })

    {:ok, state}
  end

  @impl GenServer
  def handle_call({:create_session, id, opts}, _from, state) do
    tenant = Keyword.get(opts, :tenant, state.tenant)

    case Map.fetch(state.sessions, id) do
      {:ok, %Session{tenant: ^tenant} = session} ->
        {:reply, {:ok, session}, state}

      {:ok, %Session{tenant: other}} ->
        reply_error(
          Error.new(
            :invalid_request,
            "session #{inspect(id)} exists with tenant #{inspect(other)}, not #{inspect(tenant)}",
            "use another session id, or the session's own tenant",
            %{session: id}
          ),
          state
        )

      :error ->
        with {:ok, ttl_ms} <-
               ttl_ms(opts, {:ttl_ms, :ttl}, state.default_ttl_ms, "a non-negative integer"),
             {:ok, metadata} <- metadata(opts),
             :ok <- check_tenant(tenant),
             :ok <- check_quota(state) do
          session = Session.new(id, ttl_ms, tenant, metadata)
          state = put_session(state, session) |> bump(:sessions_created)
          {:reply, {:ok, session}, state}
        else
          {:error, _} = error -> {:reply, error, state}
        end
    end
  end

  def handle_call({:get_session, id}, _from, state) do
    with_session(state, id, fn session ->
      session = Session.touch(session)
      {:reply, {:ok, session}, put_session(state, session)}
    end)
  end

  def handle_call({:update_session, id, update_fn}, _from, state) do
    with_session(state, id, fn session ->
      case apply_update(session, update_fn) do
        {:ok, updated} ->
          updated = Session.touch(updated)
          {:reply, {:ok, updated}, put_session(state, updated)}

        {:error, _} = error ->
          {:reply, error, state}
      end
    end)
  end

  def handle_call({:end_session, id}, _from, state) do
    {reply, state} = end_one(state, id, :sessions_deleted)
    {:reply, reply, state}
  end

  def handle_call(:cleanup_expired_sessions, _from, state) do
    {count, state} = cleanup(state)
    {:reply, {:ok, count}, state}
  end

  def handle_call(:get_stats, _from, state) do
    stats =
      Map.merge(state.stats, %{current_sessions: map_size(state.sessions), server: state.server})

    {:reply, {:ok, stats}, state}
  end

  def handle_call(:list_sessions, _from, state),
    do: {:reply, {:ok, Map.keys(state.sessions)}, state}

  def handle_call({:session_exists, id}, _from, state),
    do: {:reply, {:ok, Map.has_key?(state.sessions, id)}, state}

  def handle_call(:node_server, _from, state), do: {:reply, {:ok, state.server}, state}

  def handle_call({:store_worker_session, id, worker_id}, _from, state) do
    case Map.fetch(state.sessions, id) do
      {:ok, session} ->
        session = Session.touch(%{session | last_worker_id: worker_id})
        {:reply, {:ok, :ok}, put_session(state, session)}

      :error ->
        case check_quota(state) do
          :ok ->
            session = %{
              Session.new(id, state.default_ttl_ms, state.tenant, %{})
              | last_worker_id: worker_id
            }

            {:reply, {:ok, :ok}, state |> put_session(session) |> bump(:sessions_created)}

          {:error, _} = error ->
            {:reply, error, state}
        end
    end
  end

  def handle_call({:allocate_in_session, id, size_bytes, opts}, _from, state) do
    with_session(state, id, fn session ->
      node_opts =
        opts
        |> Keyword.put_new(:timeout_ms, state.node_timeout_ms)
        |> Keyword.merge(session: id, holder: self())
        |> put_tenant(session.tenant)

      case SnakepitShm.allocate(state.server, size_bytes, node_opts) do
        {:ok, descriptor} ->
          session =
            Session.touch(%{
              session
              | regions: Map.put(session.regions, descriptor.id, descriptor),
                stats: %{
                  session.stats
                  | regions_allocated: session.stats.regions_allocated + 1,
                    bytes_allocated: session.stats.bytes_allocated + size_bytes
                }
            })

          state =
            state
            |> put_session(session)
            |> bump(:regions_allocated)
            |> bump(:bytes_allocated, size_bytes)

          {:reply, {:ok, descriptor}, state}

        {:error, _} = error ->
          {:reply, error, bump(state, :node_errors)}
      end
    end)
  end

  def handle_call({:release_region, id, region_id}, _from, state) do
    with_session(state, id, fn session ->
      if Map.has_key?(session.regions, region_id) do
        opts = put_tenant([timeout_ms: state.node_timeout_ms], session.tenant)

        case SnakepitShm.release(state.server, region_id, opts) do
          :ok ->
            session = %{session | regions: Map.delete(session.regions, region_id)}
            {:reply, {:ok, :ok}, put_session(state, session)}

          {:error, _} = error ->
            {:reply, error, bump(state, :node_errors)}
        end
      else
        reply_error(
          Error.new(
            :not_found,
            "region #{inspect(region_id)} was not allocated in session #{inspect(id)} " <>
              "through this store, or it was released already",
            "release regions with the id allocate_in_session/4 returned",
            %{session: id, id: region_id}
          ),
          state
        )
      end
    end)
  end

  def handle_call({:session_regions, id}, _from, state) do
    tenant = session_tenant(state, id)
    filter = put_tenant([session: id, timeout_ms: state.node_timeout_ms], tenant)
    {:reply, SnakepitShm.list(state.server, filter), state}
  end

  @impl GenServer
  def handle_info(:cleanup_expired_sessions, state) do
    {_count, state} = cleanup(state)
    {:noreply, %{state | timer: schedule_cleanup(state.cleanup_interval)}}
  end

  # The node's link to the store (a holder) broke: the node is gone or disconnected,
  # and the references the store held with it.
  def handle_info({:EXIT, pid, reason}, state) when node(pid) == state.server do
    Logger.warning(
      "SnakepitShm.Snakepit.SessionStore: the link to #{state.server} broke " <>
        "(#{inspect(reason)}); the regions of #{map_size(state.sessions)} session(s) are gone"
    )

    sessions = Map.new(state.sessions, fn {id, session} -> {id, %{session | regions: %{}}} end)
    {:noreply, bump(%{state | sessions: sessions}, :node_links_lost)}
  end

  def handle_info({:EXIT, _pid, _reason}, state), do: {:noreply, state}

  def handle_info(message, state) do
    Logger.debug("SnakepitShm.Snakepit.SessionStore ignored #{inspect(message)}")
    {:noreply, state}
  end

  @impl GenServer
  def terminate(_reason, state) do
    # Best effort: every session ends with the store (the node would drop the store's
    # references anyway once its link breaks; this also ends regions others hold).
    Enum.each(Map.keys(state.sessions), fn id -> end_on_node(state, id) end)
    :ok
  end

  # ------------------------------------------------------------------------------------
  # Internals
  # ------------------------------------------------------------------------------------

  @spec end_one(map(), session_id(), :sessions_deleted | :sessions_expired) ::
          {{:ok, ended()} | {:error, Error.t()}, map()}
  defp end_one(state, id, counter) do
    known? = Map.has_key?(state.sessions, id)
    state = if known?, do: bump(state, counter), else: state
    result = end_on_node(state, id)
    state = %{state | sessions: Map.delete(state.sessions, id)}

    case result do
      {:ok, %{released: released} = counts} ->
        ended = %{
          released: released,
          other_tenants: Map.get(counts, :other_tenants, 0),
          known: known?
        }

        {{:ok, ended}, bump(state, :regions_released, released)}

      {:error, _} = error ->
        {error, bump(state, :node_errors)}
    end
  end

  @spec end_on_node(map(), session_id()) :: {:ok, map()} | {:error, Error.t()}
  defp end_on_node(state, id) do
    opts = put_tenant([timeout_ms: state.node_timeout_ms], session_tenant(state, id))
    SnakepitShm.release_session(state.server, id, opts)
  end

  @spec cleanup(map()) :: {non_neg_integer(), map()}
  defp cleanup(state) do
    now_ms = System.monotonic_time(:millisecond)

    expired = for {id, session} <- state.sessions, Session.expired?(session, now_ms), do: id

    state =
      Enum.reduce(expired, state, fn id, state ->
        {result, state} = end_one(state, id, :sessions_expired)

        with {:error, error} <- result do
          Logger.warning(
            "SnakepitShm.Snakepit.SessionStore: session #{inspect(id)} expired but the " <>
              "node could not end it: #{error.message}"
          )
        end

        state
      end)

    {length(expired), bump(state, :cleanup_runs)}
  end

  @spec with_session(map(), session_id(), (Session.t() -> {:reply, term(), map()})) ::
          {:reply, term(), map()}
  defp with_session(state, id, fun) do
    case Map.fetch(state.sessions, id) do
      {:ok, session} -> fun.(session)
      :error -> reply_error(no_session(id), state)
    end
  end

  @spec apply_update(Session.t(), (Session.t() -> Session.t())) ::
          {:ok, Session.t()} | {:error, Error.t()}
  defp apply_update(session, update_fn) do
    case update_fn.(session) do
      %Session{id: id, tenant: tenant, regions: regions} = updated
      when id == session.id and tenant == session.tenant and regions == session.regions ->
        normalize_ttl(session, updated)

      %Session{} ->
        Error.new(
          :invalid_request,
          "update_session may not change a session's id, tenant or regions",
          "change metadata, ttl, ttl_ms or last_worker_id only",
          %{session: session.id}
        )

      other ->
        Error.new(
          :invalid_request,
          "the update function returned #{inspect(other, limit: 10)}, not a session",
          "return the session it was given, changed",
          %{session: session.id}
        )
    end
  rescue
    exception ->
      Error.new(
        :invalid_request,
        "the update function raised: " <> Exception.message(exception),
        nil,
        %{session: session.id, exception: exception}
      )
  end

  # A Snakepit-style update changes `ttl` (seconds); keep `ttl_ms` in step.
  @spec normalize_ttl(Session.t(), Session.t()) :: {:ok, Session.t()} | {:error, Error.t()}
  defp normalize_ttl(old, new) do
    cond do
      not (is_integer(new.ttl) and new.ttl >= 0 and is_integer(new.ttl_ms) and new.ttl_ms >= 0) ->
        Error.new(:invalid_request, "ttl and ttl_ms must be non-negative integers", nil, %{
          session: old.id
        })

      new.ttl_ms != old.ttl_ms ->
        {:ok, %{new | ttl: div(new.ttl_ms + 999, 1000)}}

      new.ttl != old.ttl ->
        {:ok, %{new | ttl_ms: new.ttl * 1000}}

      true ->
        {:ok, new}
    end
  end

  @spec put_session(map(), Session.t()) :: map()
  defp put_session(state, session),
    do: %{state | sessions: Map.put(state.sessions, session.id, session)}

  @spec session_tenant(map(), session_id()) :: String.t() | nil
  defp session_tenant(state, id) do
    case Map.fetch(state.sessions, id) do
      {:ok, session} -> session.tenant
      :error -> state.tenant
    end
  end

  @spec bump(map(), atom(), non_neg_integer()) :: map()
  defp bump(state, key, by \\ 1), do: %{state | stats: Map.update!(state.stats, key, &(&1 + by))}

  @spec reply_error({:error, Error.t()}, map()) :: {:reply, {:error, Error.t()}, map()}
  defp reply_error(error, state), do: {:reply, error, state}

  @spec put_tenant(keyword(), String.t() | nil) :: keyword()
  defp put_tenant(opts, nil), do: opts
  defp put_tenant(opts, tenant), do: Keyword.put(opts, :tenant, tenant)

  @spec schedule_cleanup(non_neg_integer()) :: reference() | nil
  defp schedule_cleanup(0), do: nil

  defp schedule_cleanup(interval_ms),
    do: Process.send_after(self(), :cleanup_expired_sessions, interval_ms)

  @spec check_quota(map()) :: :ok | {:error, Error.t()}
  defp check_quota(state) do
    if map_size(state.sessions) >= state.max_sessions do
      Error.new(
        :limit_exceeded,
        "the session store holds #{map_size(state.sessions)} sessions, its max_sessions",
        "end sessions you no longer need (delete_session/2), or start the store with a " <>
          "larger max_sessions",
        %{limit_name: :max_sessions, limit: state.max_sessions}
      )
    else
      :ok
    end
  end

  @spec no_session(session_id()) :: {:error, Error.t()}
  defp no_session(id) do
    Error.new(
      :not_found,
      "no session #{inspect(id)} in the session store (never created, deleted, or expired)",
      "create it with create_session/2 first",
      %{session: id}
    )
  end

  @spec call(server(), term(), timeout()) :: term()
  defp call(server, request, timeout \\ @call_timeout_ms),
    do: Support.call(server, request, timeout, @names)

  # --- validation -------------------------------------------------------------------

  @spec validate_start(keyword()) :: {:ok, map()} | {:error, Error.t()}
  defp validate_start(opts) do
    with :ok <- check_keyword(opts, @start_keys, "start_link"),
         {:ok, server} <- fetch_server(opts),
         {:ok, ttl_ms} <-
           ttl_ms(opts, {:default_ttl_ms, :default_ttl}, @default_ttl_s * 1000, ">= 0"),
         {:ok, interval} <-
           opts
           |> Keyword.get(:cleanup_interval, @default_cleanup_interval_ms)
           |> Support.non_negative(:cleanup_interval),
         {:ok, max_sessions} <-
           opts
           |> Keyword.get(:max_sessions, @default_max_sessions)
           |> Support.positive(:max_sessions),
         {:ok, node_timeout_ms} <-
           opts
           |> Keyword.get(:node_timeout_ms, @default_node_timeout_ms)
           |> Support.positive(:node_timeout_ms),
         :ok <- check_tenant(opts[:tenant]) do
      {:ok,
       %{
         server: server,
         name: Keyword.get(opts, :name, __MODULE__),
         default_ttl_ms: ttl_ms,
         cleanup_interval: interval,
         max_sessions: max_sessions,
         node_timeout_ms: node_timeout_ms,
         tenant: opts[:tenant]
       }}
    end
  end

  @spec fetch_server(keyword()) :: {:ok, node()} | {:error, Error.t()}
  defp fetch_server(opts) do
    case opts[:server] do
      server when is_atom(server) and server != nil ->
        {:ok, server}

      other ->
        invalid(
          "server: must be the snakepit-shm node's name (an atom), got #{inspect(other)}",
          :server
        )
    end
  end

  # A TTL given in ms or in seconds (not both), or the default.
  @spec ttl_ms(keyword(), {atom(), atom()}, non_neg_integer(), String.t()) ::
          {:ok, non_neg_integer()} | {:error, Error.t()}
  defp ttl_ms(opts, {ms_key, s_key}, default, rule) do
    case {opts[ms_key], opts[s_key]} do
      {nil, nil} -> {:ok, default}
      {nil, s} when is_integer(s) and s >= 0 -> {:ok, s * 1000}
      {ms, nil} when is_integer(ms) and ms >= 0 -> {:ok, ms}
      _ -> invalid("give one of #{s_key} (seconds) or #{ms_key}, #{rule}", s_key)
    end
  end

  @spec metadata(keyword()) :: {:ok, map()} | {:error, Error.t()}
  defp metadata(opts) do
    case Keyword.get(opts, :metadata, %{}) do
      map when is_map(map) -> {:ok, map}
      other -> invalid("metadata: must be a map, got #{inspect(other, limit: 5)}", :metadata)
    end
  end

  @spec check_tenant(term()) :: :ok | {:error, Error.t()}
  defp check_tenant(nil), do: :ok
  defp check_tenant(tenant) when is_binary(tenant) and byte_size(tenant) in 1..1024, do: :ok

  defp check_tenant(other),
    do: invalid("tenant: must be a non-empty binary, got #{inspect(other)}", :tenant)

  @spec check_id(term()) :: :ok | {:error, Error.t()}
  defp check_id(id) do
    if Session.valid_id?(id),
      do: :ok,
      else:
        invalid(
          "a session id must be a non-empty UTF-8 binary of at most 1024 bytes, got " <>
            inspect(id, limit: 5),
          :session
        )
  end

  @spec check_size(term()) :: :ok | {:error, Error.t()}
  defp check_size(size) when is_integer(size) and size > 0, do: :ok

  defp check_size(other),
    do: invalid("size_bytes must be a positive integer, got #{inspect(other)}", :size)

  @spec check_allocate_opts(term()) :: :ok | {:error, Error.t()}
  defp check_allocate_opts(opts) do
    cond do
      not Keyword.keyword?(opts) ->
        invalid("allocate_in_session options must be a keyword list", :opts)

      (reserved = Enum.find(Keyword.keys(opts), &(&1 in @reserved_allocate_keys))) != nil ->
        invalid(
          "#{reserved}: is set by the session store (the session's id and tenant, the " <>
            "store as holder)",
          reserved
        )

      true ->
        :ok
    end
  end
end
