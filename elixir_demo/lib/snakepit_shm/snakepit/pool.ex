defmodule SnakepitShm.Snakepit.Pool do
  @moduledoc """
  A pool of Python workers shaped like Snakepit's `Snakepit.Pool` / `Snakepit.execute/3`
  (docs/SNAKEPIT.md says what is mirrored and what is not), whose requests carry
  shared-memory descriptors instead of payloads.

      {:ok, _} = SessionStore.start_link(server: shm_node)
      {:ok, _} = Pool.start_link(pool_size: 2, worker_profile: :process,
                                 session_store: SessionStore)
      {:ok, _} = SessionStore.create_session("job-1", [])
      {:ok, input} = SessionStore.allocate_in_session("job-1", 8_000_000, [])
      :ok = SnakepitShm.write(input, 0, floats)

      {:ok, result} =
        Pool.execute_in_session("job-1", "scale",
          %{input: input, output: {:alloc, 8_000_000}, factor: 2.5})

      result.fields["sum"]                               # the worker's reply
      SnakepitShm.read(result.regions.output, 0, 8_000_000)  # what Python wrote in place

  ## Worker profiles

  `worker_profile: :process` (default) starts `pool_size` Python processes, each serving
  one request at a time; `worker_profile: :thread` starts `pool_size` Python processes
  with `--threads threads_per_worker` each, serving that many requests at once on
  threads that share the process's mappings (`SnakepitShm.Snakepit.WorkerProfile`).
  A request goes to the least loaded worker with room; when none has room it waits in
  the pool's queue (at most `max_queue_size` waiters, then `:busy`) until one has, or
  its timeout ends (`:timeout`).

  ## Arguments and results

  `args` is a map (atom or string keys) sent to the worker as JSON with `"op" =>
  command`; descriptors in it are handed over as they are, and the worker maps them.
  A top-level value `{:alloc, size}` or `{:alloc, size, opts}` (opts of
  `SessionStore.allocate_in_session/4`) makes the pool allocate a region of `size`
  bytes in the request's session and pass its descriptor instead: the worker writes its
  result there, and the descriptor comes back in `result.regions` under the same key.
  Such regions belong to the session and end with it; they need `execute_in_session/4`
  and a pool started with `session_store:`.

  ## Sessions

  `execute_in_session/4` prefers the worker the session ran on before (affinity), so
  its segments are already mapped there. `affinity:` (pool option, or per call) is
  Snakepit's: `:hint` (default; use another worker when the preferred one is full),
  `:strict_queue` (wait for it) or `:strict_fail_fast` (`:busy` at once). With a
  `session_store:`, each call records the worker in the session (`last_worker_id`) and
  counts as an access, so a session in use does not expire.

  ## Failures

  Every failure is `{:error, %SnakepitShm.Error{}}`: the worker's own errors with their
  codes (`:not_found`, `:invalid_request`, ...), `:timeout`, `:busy` (queue full or a
  strict-fail-fast session's worker busy), `:platform_error` (a Python process died
  during the request — the worker restarts it). A worker GenServer that dies is
  replaced. Stopping the pool stops every Python process.
  """

  use GenServer

  require Logger

  alias SnakepitShm.Error
  alias SnakepitShm.Snakepit.{Result, SessionStore, Session, Support, Worker, WorkerProfile}

  import Support, only: [check_keyword: 3, invalid: 2]

  @default_timeout_ms 60_000
  @default_threads 4
  @default_max_queue 1_000
  @default_start_timeout_ms 15_000
  @call_margin_ms 5_000
  @affinities [:hint, :strict_queue, :strict_fail_fast]
  @start_keys [
    :name,
    :pool_size,
    :worker_profile,
    :threads_per_worker,
    :affinity,
    :session_store,
    :python,
    :python_path,
    :stderr_path,
    :adapter_env,
    :start_timeout_ms,
    :max_queue_size
  ]
  @execute_keys [:pool, :timeout, :session_id, :affinity]
  @names %{what: "the pool", key: :pool, start: "start it with start_link/1", limit: 10}
  @reserved_args ["op", "req"]

  @typedoc "A pool: its registered name or pid (default `#{inspect(__MODULE__)}`)."
  @type pool :: GenServer.server()

  @typedoc "A command: the worker's `op`."
  @type command :: String.t()

  @typedoc "Arguments of a command; see the module doc for `{:alloc, size}`."
  @type args :: %{optional(atom() | String.t()) => term()}

  # ------------------------------------------------------------------------------------
  # Starting and stopping
  # ------------------------------------------------------------------------------------

  @doc """
  Starts the pool and its workers; returns once every worker answered `ping`.

  Options:

    * `:name` — registered name (default `#{inspect(__MODULE__)}`; `nil`: none);
    * `:pool_size` — Python processes (default `System.schedulers_online/0`);
    * `:worker_profile` — `:process` (default) or `:thread`;
    * `:threads_per_worker` — threads per Python process, `:thread` only (default 4);
    * `:affinity` — `:hint` (default), `:strict_queue` or `:strict_fail_fast`;
    * `:session_store` — a `SnakepitShm.Snakepit.SessionStore` (name or pid) for
      sessions and `{:alloc, size}` arguments (default none);
    * `:python`, `:python_path`, `:stderr_path`, `:adapter_env` (`[{name, value}]`),
      `:start_timeout_ms` — how the Python processes are started;
    * `:max_queue_size` — requests that may wait for a worker (default 1000).

  Bad options, or a worker that does not start, are `{:error, %SnakepitShm.Error{}}`;
  nothing is left running then (and the caller is not sent an exit signal).
  """
  @spec start_link(keyword()) :: GenServer.on_start() | {:error, Error.t()}
  def start_link(opts \\ []) do
    with {:ok, config} <- validate_start(opts) do
      # Started unlinked so a failed start is a return value, not an exit signal; the
      # pool links itself to the caller first thing in init/1 (and unlinks on failure).
      case GenServer.start(__MODULE__, {config, self()}, name_opt(config.name)) do
        {:ok, pid} -> {:ok, pid}
        {:error, %Error{} = error} -> {:error, error}
        {:error, {:already_started, _}} = already -> already
        {:error, other} -> Error.new(:platform_error, "the pool did not start: #{inspect(other)}")
      end
    end
  end

  @doc "A child spec: `{SnakepitShm.Snakepit.Pool, opts}` in a supervisor."
  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{
      id: Keyword.get(opts, :name) || __MODULE__,
      start: {__MODULE__, :start_link, [opts]},
      type: :worker,
      shutdown: 30_000
    }
  end

  @doc "Stops the pool and every Python process it started."
  @spec stop(pool()) :: :ok
  def stop(pool \\ __MODULE__), do: GenServer.stop(pool, :normal, 60_000)

  @doc """
  `:ok` once the pool serves (it does as soon as `start_link/1` returned), or an error
  when it has no worker left or does not answer within `timeout`.
  """
  @spec await_ready(pool(), timeout()) :: :ok | {:error, Error.t()}
  def await_ready(pool \\ __MODULE__, timeout \\ 5_000) do
    pool |> call(:await_ready, timeout) |> Support.ok()
  end

  # ------------------------------------------------------------------------------------
  # Executing
  # ------------------------------------------------------------------------------------

  @doc """
  Runs `command` with `args` on a worker (Snakepit's `execute/3`).

  Options (as Snakepit's): `:pool` (default `#{inspect(__MODULE__)}`), `:timeout` (ms,
  default 60000; covers waiting for a worker and the request), `:session_id` (same as
  `execute_in_session/4`), `:affinity` (overrides the pool's).

  Returns `{:ok, %SnakepitShm.Snakepit.Result{}}` or `{:error, %SnakepitShm.Error{}}`.
  """
  @spec execute(command(), args(), keyword()) :: {:ok, Result.t()} | {:error, Error.t()}
  def execute(command, args, opts \\ []) do
    with :ok <- check_command(command),
         :ok <- check_keyword(opts, @execute_keys, "execute"),
         {:ok, args, keys} <- normalize_args(args),
         {:ok, timeout} <- request_timeout(opts),
         {:ok, affinity} <- affinity(opts[:affinity]),
         {:ok, session_id} <- session_opt(opts[:session_id]) do
      pool = opts[:pool] || __MODULE__
      deadline = System.monotonic_time(:millisecond) + timeout

      case checkout(pool, session_id, affinity, timeout) do
        {:ok, lease} ->
          try do
            # One timeout for the whole call: what the wait for a worker left.
            remaining = max(deadline - System.monotonic_time(:millisecond), 1)
            run(lease, command, {args, keys}, session_id, remaining)
          after
            GenServer.cast(pool, {:checkin, lease.ref})
          end

        {:error, _} = error ->
          error
      end
    end
  end

  @doc """
  Runs `command` in session `session_id`, with worker affinity (Snakepit's
  `execute_in_session/4`); `{:alloc, size}` arguments are allocated in the session.
  Options as `execute/3`.
  """
  @spec execute_in_session(String.t(), command(), args(), keyword()) ::
          {:ok, Result.t()} | {:error, Error.t()}
  def execute_in_session(session_id, command, args, opts \\ []) do
    if Keyword.keyword?(opts) do
      execute(command, args, Keyword.put(opts, :session_id, session_id))
    else
      invalid("execute_in_session options must be a keyword list", :opts)
    end
  end

  # ------------------------------------------------------------------------------------
  # Inspecting
  # ------------------------------------------------------------------------------------

  @doc """
  Counters, as Snakepit's `get_stats/1`: `requests`, `queued` (waiting now), `errors`,
  `queue_timeouts`, `pool_saturated`, `workers`, `available` (workers with room),
  `busy` (workers without), plus `worker_profile`, `capacity`, `in_flight`,
  `worker_restarts`, `sessions` (sessions with affinity).
  """
  @spec get_stats(pool()) :: map()
  def get_stats(pool \\ __MODULE__), do: Error.unwrap!(call(pool, :get_stats, 10_000))

  @doc "The worker ids (`\"worker_1\"`, ...)."
  @spec list_workers(pool()) :: [String.t()]
  def list_workers(pool \\ __MODULE__), do: Error.unwrap!(call(pool, :list_workers, 10_000))

  @doc """
  Each worker's `SnakepitShm.Snakepit.Worker.info/1`: `id`, `mode`, `threads`,
  `capacity`, `load`, `os_pid`, `python_pid`, `requests`, `errors`, `timeouts`,
  `restarts`, `peak_load`.
  """
  @spec worker_info(pool()) :: [map()]
  def worker_info(pool \\ __MODULE__) do
    pool
    |> call(:worker_pids, 10_000)
    |> Error.unwrap!()
    |> Enum.map(fn pid -> Worker.info(pid) end)
  end

  @doc "The worker the session is bound to (`nil`: none yet)."
  @spec session_worker(pool(), String.t()) :: String.t() | nil
  def session_worker(pool \\ __MODULE__, session_id),
    do: Error.unwrap!(call(pool, {:session_worker, session_id}, 10_000))

  # ------------------------------------------------------------------------------------
  # GenServer
  # ------------------------------------------------------------------------------------

  @impl GenServer
  def init({config, parent}) do
    Process.flag(:trap_exit, true)
    Process.link(parent)

    state = %{
      config: config,
      parent: parent,
      profile: WorkerProfile.module(config.worker_profile),
      workers: %{},
      order: Enum.map(1..config.pool_size, &"worker_#{&1}"),
      affinity: %{},
      checkouts: %{},
      queue: :queue.new(),
      stats: %{
        requests: 0,
        errors: 0,
        queue_timeouts: 0,
        pool_saturated: 0,
        worker_restarts: 0
      }
    }

    case start_workers(state) do
      {:ok, state} ->
        {:ok, state}

      {:error, error, started} ->
        Enum.each(started, fn {_id, worker} -> state.profile.stop_worker(worker.pid) end)
        Process.unlink(parent)
        {:stop, error}
    end
  end

  @impl GenServer
  def handle_call({:checkout, session_id, affinity, timeout}, {caller, _tag} = from, state) do
    state = bump(state, :requests)
    affinity = affinity || state.config.affinity

    case choose(state, session_id, affinity) do
      {:ok, worker_id} ->
        {lease, state} = assign(state, worker_id, caller, session_id)
        {:reply, {:ok, lease}, state}

      {:wait, preferred} ->
        if :queue.len(state.queue) >= state.config.max_queue_size do
          error =
            Error.new(
              :busy,
              "the pool's queue is full (#{state.config.max_queue_size} requests wait)",
              "retry later, or start the pool with more workers or a larger max_queue_size",
              %{queued: :queue.len(state.queue), limit: state.config.max_queue_size}
            )

          {:reply, error, state |> bump(:pool_saturated) |> bump(:errors)}
        else
          waiter_ref = make_ref()
          timer = Process.send_after(self(), {:queue_timeout, waiter_ref}, timeout)

          waiter = %{
            ref: waiter_ref,
            from: from,
            caller: caller,
            session_id: session_id,
            affinity: affinity,
            preferred: preferred,
            timer: timer
          }

          {:noreply, %{state | queue: :queue.in(waiter, state.queue)}}
        end

      {:error, _} = error ->
        {:reply, error, bump(state, :errors)}
    end
  end

  def handle_call(:await_ready, _from, state) do
    if map_size(state.workers) > 0 do
      {:reply, {:ok, :ok}, state}
    else
      {:reply, no_workers(), state}
    end
  end

  def handle_call(:get_stats, _from, state) do
    workers = Map.values(state.workers)
    available = Enum.count(workers, &(&1.load < &1.capacity))

    stats =
      Map.merge(state.stats, %{
        queued: :queue.len(state.queue),
        workers: length(workers),
        available: available,
        busy: length(workers) - available,
        worker_profile: state.config.worker_profile,
        capacity: Enum.sum(Enum.map(workers, & &1.capacity)),
        in_flight: Enum.sum(Enum.map(workers, & &1.load)),
        sessions: map_size(state.affinity)
      })

    {:reply, {:ok, stats}, state}
  end

  def handle_call(:list_workers, _from, state),
    do: {:reply, {:ok, Enum.filter(state.order, &Map.has_key?(state.workers, &1))}, state}

  def handle_call(:worker_pids, _from, state) do
    pids = for id <- state.order, worker = state.workers[id], do: worker.pid
    {:reply, {:ok, pids}, state}
  end

  def handle_call({:session_worker, session_id}, _from, state),
    do: {:reply, {:ok, Map.get(state.affinity, session_id)}, state}

  @impl GenServer
  def handle_cast({:checkin, ref}, state), do: {:noreply, checkin(state, ref)}

  @impl GenServer
  def handle_info({:DOWN, ref, :process, _pid, _reason}, state),
    do: {:noreply, checkin(state, ref)}

  def handle_info({:queue_timeout, waiter_ref}, state) do
    {timed_out, queue} = split_queue(state.queue, &(&1.ref == waiter_ref))

    Enum.each(timed_out, fn waiter ->
      GenServer.reply(
        waiter.from,
        Error.new(
          :timeout,
          "no worker of the pool was free in time" <>
            if(waiter.preferred, do: " (waiting for #{waiter.preferred})", else: ""),
          "give the request a longer timeout, or start the pool with more workers",
          %{worker_profile: state.config.worker_profile}
        )
      )
    end)

    state = %{state | queue: queue}

    state =
      Enum.reduce(timed_out, state, fn _, acc -> acc |> bump(:queue_timeouts) |> bump(:errors) end)

    {:noreply, state}
  end

  def handle_info({:EXIT, parent, reason}, %{parent: parent} = state),
    do: {:stop, reason, state}

  def handle_info({:EXIT, pid, reason}, state) do
    case Enum.find(state.workers, fn {_id, worker} -> worker.pid == pid end) do
      nil -> {:noreply, state}
      {id, _worker} -> {:noreply, replace_worker(state, id, reason)}
    end
  end

  def handle_info(message, state) do
    Logger.debug("SnakepitShm.Snakepit.Pool ignored #{inspect(message)}")
    {:noreply, state}
  end

  @impl GenServer
  def terminate(_reason, state) do
    for waiter <- :queue.to_list(state.queue) do
      GenServer.reply(waiter.from, Error.new(:platform_error, "the pool is stopping"))
    end

    state.workers
    |> Map.values()
    |> Enum.map(fn worker -> Task.async(fn -> state.profile.stop_worker(worker.pid) end) end)
    |> Task.await_many(60_000)

    :ok
  end

  # ------------------------------------------------------------------------------------
  # Scheduling
  # ------------------------------------------------------------------------------------

  @spec choose(map(), String.t() | nil, atom()) ::
          {:ok, String.t()} | {:wait, String.t() | nil} | {:error, Error.t()}
  defp choose(state, session_id, affinity) do
    preferred = session_id && Map.get(state.affinity, session_id)
    preferred = if preferred && Map.has_key?(state.workers, preferred), do: preferred

    cond do
      map_size(state.workers) == 0 ->
        no_workers()

      preferred != nil and room?(state, preferred) ->
        {:ok, preferred}

      preferred != nil and affinity == :strict_queue ->
        {:wait, preferred}

      preferred != nil and affinity == :strict_fail_fast ->
        Error.new(
          :busy,
          "session #{inspect(session_id)}'s worker #{preferred} is busy",
          "retry, or use affinity: :strict_queue to wait for it or :hint to use another",
          %{session: session_id, worker: preferred}
        )

      true ->
        case least_loaded(state) do
          nil -> {:wait, nil}
          id -> {:ok, id}
        end
    end
  end

  @spec room?(map(), String.t()) :: boolean()
  defp room?(state, id) do
    worker = Map.fetch!(state.workers, id)
    worker.load < worker.capacity
  end

  # The worker with the most room left (the first in pool order among equals).
  @spec least_loaded(map()) :: String.t() | nil
  defp least_loaded(state) do
    state.order
    |> Enum.filter(&(Map.has_key?(state.workers, &1) and room?(state, &1)))
    |> Enum.max_by(
      fn id ->
        worker = state.workers[id]
        worker.capacity - worker.load
      end,
      fn -> nil end
    )
  end

  @spec assign(map(), String.t(), pid(), String.t() | nil) :: {map(), map()}
  defp assign(state, worker_id, caller, session_id) do
    ref = Process.monitor(caller)
    worker = Map.fetch!(state.workers, worker_id)

    lease = %{
      ref: ref,
      worker: worker.pid,
      worker_id: worker_id,
      python_pid: worker.python_pid,
      profile_module: state.profile,
      profile: state.config.worker_profile,
      store: state.config.session_store
    }

    affinity =
      if session_id && not Map.has_key?(state.workers, Map.get(state.affinity, session_id)),
        do: Map.put(state.affinity, session_id, worker_id),
        else: state.affinity

    state = %{
      state
      | workers: Map.put(state.workers, worker_id, %{worker | load: worker.load + 1}),
        checkouts: Map.put(state.checkouts, ref, %{worker_id: worker_id, pid: worker.pid}),
        affinity: affinity
    }

    {lease, state}
  end

  @spec checkin(map(), reference()) :: map()
  defp checkin(state, ref) do
    case Map.pop(state.checkouts, ref) do
      {nil, _} ->
        state

      {checkout, checkouts} ->
        Process.demonitor(ref, [:flush])

        workers =
          case Map.fetch(state.workers, checkout.worker_id) do
            # Only the worker that was checked out: a replaced one starts at load 0.
            {:ok, %{pid: pid} = worker} when pid == checkout.pid ->
              Map.put(state.workers, checkout.worker_id, %{worker | load: max(worker.load - 1, 0)})

            _ ->
              state.workers
          end

        serve_queue(%{state | checkouts: checkouts, workers: workers})
    end
  end

  # Hands workers with room to waiters, oldest first; waiters that still cannot run
  # keep their place.
  @spec serve_queue(map()) :: map()
  defp serve_queue(state) do
    {state, kept} =
      state.queue
      |> :queue.to_list()
      |> Enum.reduce({state, []}, fn waiter, {state, kept} ->
        case choose(state, waiter.session_id, waiter.affinity) do
          {:ok, worker_id} ->
            Process.cancel_timer(waiter.timer)
            {lease, state} = assign(state, worker_id, waiter.caller, waiter.session_id)
            GenServer.reply(waiter.from, {:ok, lease})
            {state, kept}

          {:wait, _} ->
            {state, [waiter | kept]}

          {:error, _} = error ->
            Process.cancel_timer(waiter.timer)
            GenServer.reply(waiter.from, error)
            {bump(state, :errors), kept}
        end
      end)

    %{state | queue: :queue.from_list(Enum.reverse(kept))}
  end

  @spec split_queue(:queue.queue(map()), (map() -> boolean())) :: {[map()], :queue.queue(map())}
  defp split_queue(queue, fun) do
    {matching, rest} = queue |> :queue.to_list() |> Enum.split_with(fun)
    {matching, :queue.from_list(rest)}
  end

  # ------------------------------------------------------------------------------------
  # Workers
  # ------------------------------------------------------------------------------------

  @spec start_workers(map()) :: {:ok, map()} | {:error, Error.t(), map()}
  defp start_workers(state) do
    timeout = state.config.start_timeout_ms + @call_margin_ms
    pool = self()

    results =
      state.order
      |> Task.async_stream(fn id -> {id, start_worker(state, id, pool)} end,
        timeout: timeout,
        max_concurrency: max(length(state.order), 1),
        on_timeout: :kill_task
      )
      |> Enum.map(fn
        {:ok, result} ->
          result

        {:exit, reason} ->
          {nil, Error.new(:timeout, "a worker did not start: #{inspect(reason)}")}
      end)

    started = for {id, {:ok, worker}} <- results, into: %{}, do: {id, worker}

    case Enum.find(results, &match?({_, {:error, _}}, &1)) do
      nil -> {:ok, %{state | workers: started}}
      {_id, {:error, error}} -> {:error, error, started}
    end
  end

  # `owner`: the pool, which the worker links to once it runs.
  @spec start_worker(map(), String.t(), pid()) :: {:ok, map()} | {:error, Error.t()}
  defp start_worker(state, id, owner) do
    config = Map.merge(state.config, %{id: id, owner: owner})

    with {:ok, pid} <- state.profile.start_worker(config) do
      info = Worker.info(pid)
      {:ok, %{pid: pid, capacity: info.capacity, load: 0, python_pid: info.python_pid}}
    end
  end

  @spec replace_worker(map(), String.t(), term()) :: map()
  defp replace_worker(state, id, reason) do
    Logger.warning(
      "SnakepitShm.Snakepit.Pool: worker #{id} stopped (#{inspect(reason)}); replacing it"
    )

    state = %{state | workers: Map.delete(state.workers, id)}

    case start_worker(state, id, self()) do
      {:ok, worker} ->
        state = %{state | workers: Map.put(state.workers, id, worker)}
        serve_queue(bump(state, :worker_restarts))

      {:error, error} ->
        Logger.error(
          "SnakepitShm.Snakepit.Pool: worker #{id} cannot be replaced: #{error.message}"
        )

        serve_queue(state)
    end
  end

  @spec no_workers() :: {:error, Error.t()}
  defp no_workers do
    Error.new(
      :platform_error,
      "the pool has no running worker",
      "check the workers' stderr (stderr_path:) and restart the pool"
    )
  end

  # ------------------------------------------------------------------------------------
  # One request, in the caller's process
  # ------------------------------------------------------------------------------------

  @spec checkout(pool(), String.t() | nil, atom() | nil, pos_integer()) ::
          {:ok, map()} | {:error, Error.t()}
  defp checkout(pool, session_id, affinity, timeout) do
    call(pool, {:checkout, session_id, affinity, timeout}, timeout + @call_margin_ms)
  end

  @spec run(map(), command(), {map(), map()}, String.t() | nil, pos_integer()) ::
          {:ok, Result.t()} | {:error, Error.t()}
  defp run(lease, command, {args, keys}, session_id, timeout) do
    with :ok <- record_session(lease, session_id),
         {:ok, args, regions} <- allocate_outputs(lease, command, {args, keys}, session_id),
         request = Map.put(args, "op", command),
         {:ok, fields} <- lease.profile_module.execute_request(lease.worker, request, timeout) do
      {:ok,
       %Result{
         fields: fields,
         regions: regions,
         worker_id: lease.worker_id,
         python_pid: lease.python_pid,
         profile: lease.profile
       }}
    end
  end

  @spec record_session(map(), String.t() | nil) :: :ok | {:error, Error.t()}
  defp record_session(_lease, nil), do: :ok
  defp record_session(%{store: nil}, _session_id), do: :ok

  defp record_session(%{store: store, worker_id: worker_id}, session_id),
    do: SessionStore.store_worker_session(store, session_id, worker_id)

  @spec allocate_outputs(map(), command(), {map(), map()}, String.t() | nil) ::
          {:ok, map(), map()} | {:error, Error.t()}
  defp allocate_outputs(lease, command, {args, keys}, session_id) do
    Enum.reduce_while(args, {:ok, args, %{}}, fn
      {key, {:alloc, size}}, acc ->
        allocate_output(lease, command, session_id, {key, keys[key]}, size, [], acc)

      {key, {:alloc, size, opts}}, acc ->
        allocate_output(lease, command, session_id, {key, keys[key]}, size, opts, acc)

      _other, acc ->
        {:cont, acc}
    end)
  end

  # `key`: the argument's key as sent (a string) and as the caller gave it.
  @spec allocate_output(
          map(),
          command(),
          String.t() | nil,
          {String.t(), atom() | String.t()},
          term(),
          term(),
          tuple()
        ) :: {:cont, tuple()} | {:halt, {:error, Error.t()}}
  defp allocate_output(
         lease,
         command,
         session_id,
         {key, given_key},
         size,
         opts,
         {:ok, args, regions}
       ) do
    cond do
      session_id == nil or lease.store == nil ->
        {:halt,
         invalid(
           "argument #{key}: {:alloc, size} allocates in the request's session: use " <>
             "execute_in_session/4 on a pool started with session_store:",
           :args
         )}

      not Keyword.keyword?(opts) ->
        {:halt, invalid("argument #{key}: {:alloc, size, opts} needs keyword opts", :args)}

      true ->
        opts = Keyword.put_new(opts, :label, "#{command}:#{key}")

        case SessionStore.allocate_in_session(lease.store, session_id, size, opts) do
          {:ok, descriptor} ->
            {:cont,
             {:ok, Map.put(args, key, descriptor), Map.put(regions, given_key, descriptor)}}

          {:error, _} = error ->
            {:halt, error}
        end
    end
  end

  # ------------------------------------------------------------------------------------
  # Validation and helpers
  # ------------------------------------------------------------------------------------

  @spec call(pool(), term(), timeout()) :: {:ok, term()} | {:error, Error.t()}
  defp call(pool, request, timeout), do: Support.call(pool, request, timeout, @names)

  @spec bump(map(), atom()) :: map()
  defp bump(state, key), do: %{state | stats: Map.update!(state.stats, key, &(&1 + 1))}

  @spec name_opt(atom() | nil) :: keyword()
  defp name_opt(nil), do: []
  defp name_opt(name), do: [name: name]

  @spec validate_start(keyword()) :: {:ok, map()} | {:error, Error.t()}
  defp validate_start(opts) do
    with :ok <- check_keyword(opts, @start_keys, "start_link"),
         {:ok, profile} <- profile(opts),
         {:ok, pool_size} <- positive(opts, :pool_size, System.schedulers_online()),
         {:ok, threads} <- threads(opts, profile),
         {:ok, affinity} <- affinity(Keyword.get(opts, :affinity, :hint)),
         {:ok, start_timeout} <- positive(opts, :start_timeout_ms, @default_start_timeout_ms),
         {:ok, max_queue} <- positive(opts, :max_queue_size, @default_max_queue),
         :ok <- check_env(Keyword.get(opts, :adapter_env, [])),
         :ok <- check_paths(opts) do
      {:ok,
       %{
         name: Keyword.get(opts, :name, __MODULE__),
         pool_size: pool_size,
         worker_profile: profile,
         threads_per_worker: threads,
         affinity: affinity,
         session_store: opts[:session_store],
         python: opts[:python],
         python_path: opts[:python_path],
         stderr_path: opts[:stderr_path],
         adapter_env: Keyword.get(opts, :adapter_env, []),
         start_timeout_ms: start_timeout,
         max_queue_size: max_queue
       }}
    end
  end

  @spec profile(keyword()) :: {:ok, :process | :thread} | {:error, Error.t()}
  defp profile(opts) do
    case Keyword.get(opts, :worker_profile, :process) do
      profile when profile in [:process, :thread] ->
        {:ok, profile}

      other ->
        invalid(
          "worker_profile: must be :process or :thread, got #{inspect(other)}",
          :worker_profile
        )
    end
  end

  @spec threads(keyword(), :process | :thread) :: {:ok, pos_integer() | nil} | {:error, Error.t()}
  defp threads(opts, :process) do
    if Keyword.has_key?(opts, :threads_per_worker),
      do:
        invalid(
          "threads_per_worker: applies to worker_profile: :thread only",
          :threads_per_worker
        ),
      else: {:ok, nil}
  end

  defp threads(opts, :thread), do: positive(opts, :threads_per_worker, @default_threads)

  @spec affinity(term()) :: {:ok, atom() | nil} | {:error, Error.t()}
  defp affinity(nil), do: {:ok, nil}
  defp affinity(mode) when mode in @affinities, do: {:ok, mode}

  defp affinity(other),
    do:
      invalid(
        "affinity: must be one of #{inspect(@affinities)}, got #{inspect(other)}",
        :affinity
      )

  @spec request_timeout(keyword()) :: {:ok, pos_integer()} | {:error, Error.t()}
  defp request_timeout(opts), do: positive(opts, :timeout, @default_timeout_ms)

  @spec session_opt(term()) :: {:ok, String.t() | nil} | {:error, Error.t()}
  defp session_opt(nil), do: {:ok, nil}

  defp session_opt(id) do
    if Session.valid_id?(id),
      do: {:ok, id},
      else:
        invalid(
          "session_id: must be a non-empty binary of at most 1024 bytes, got #{inspect(id, limit: 5)}",
          :session_id
        )
  end

  @spec check_command(term()) :: :ok | {:error, Error.t()}
  defp check_command(command) when is_binary(command) and byte_size(command) > 0, do: :ok

  defp check_command(other),
    do:
      invalid(
        "the command must be a non-empty string (the worker's op), got #{inspect(other)}",
        :command
      )

  # Top-level keys become strings, so "op" cannot sneak in as :op; `keys` maps each
  # string back to the key the caller gave (results use the caller's keys).
  @spec normalize_args(term()) :: {:ok, map(), map()} | {:error, Error.t()}
  defp normalize_args(args) when is_map(args) and not is_struct(args) do
    Enum.reduce_while(args, {:ok, %{}, %{}}, fn {key, value}, {:ok, acc, keys} ->
      string_key =
        cond do
          is_atom(key) and key not in [nil, true, false] -> Atom.to_string(key)
          is_binary(key) -> key
          true -> nil
        end

      cond do
        string_key == nil ->
          {:halt, invalid("argument keys must be atoms or strings, got #{inspect(key)}", :args)}

        string_key in @reserved_args ->
          {:halt,
           invalid("argument #{inspect(key)} is reserved (the pool sets op and req)", :args)}

        Map.has_key?(acc, string_key) ->
          {:halt, invalid("argument #{inspect(key)} is given twice (as atom and string)", :args)}

        true ->
          {:cont, {:ok, Map.put(acc, string_key, value), Map.put(keys, string_key, key)}}
      end
    end)
  end

  defp normalize_args(other),
    do: invalid("args must be a map, got #{inspect(other, limit: 5)}", :args)

  # An option given as nil takes its default.
  @spec positive(keyword(), atom(), pos_integer()) :: {:ok, pos_integer()} | {:error, Error.t()}
  defp positive(opts, key, default), do: Support.positive(Keyword.get(opts, key) || default, key)

  @spec check_env(term()) :: :ok | {:error, Error.t()}
  defp check_env(env) do
    if is_list(env) and Enum.all?(env, &match?({k, v} when is_binary(k) and is_binary(v), &1)),
      do: :ok,
      else: invalid("adapter_env: must be a list of {name, value} strings", :adapter_env)
  end

  @spec check_paths(keyword()) :: :ok | {:error, Error.t()}
  defp check_paths(opts) do
    case Enum.find(
           [:python, :python_path, :stderr_path],
           &(opts[&1] != nil and not is_binary(opts[&1]))
         ) do
      nil -> :ok
      key -> invalid("#{key}: must be a path (a string), got #{inspect(opts[key])}", key)
    end
  end
end
