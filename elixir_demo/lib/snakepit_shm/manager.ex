defmodule SnakepitShm.Manager do
  @moduledoc """
  Runs the snakepit-shm node under a supervisor: starts it as a Port, waits for its
  `ready` line, connects to it, and starts it again when it dies.

      # lib/my_app/application.ex
      children = [
        {SnakepitShm.Manager, shm_dir: "/dev/shm", config: %{grace_ms: 200}},
        MyApp.Worker
      ]

      Supervisor.start_link(children, strategy: :one_for_one)

      # anywhere
      {:ok, node} = SnakepitShm.Manager.server()
      {:ok, region} = SnakepitShm.allocate(node, 4096)

  ## What it does

    1. Starts `java_node/bin/snakepit-shm node --exit-on-stdin-eof` through
       `SnakepitShm.NodeProcess` (a Port; the cookie goes through a 0600 file).
    2. Waits for `ready <node>` (`ready_timeout_ms`, default 30 s), then
       `SnakepitShm.connect/2`s to the node with its cookie (starting distribution with
       `start_distribution` when this BEAM is not distributed yet).
    3. Watches the Port. When the node exits — it crashed, was killed, ran out of
       memory — the manager emits `[:snakepit, :shm, :manager, :down]` and starts it
       again after a backoff; a start that fails (no `ready`, connect refused) is
       retried the same way.

  Starting runs in a helper process, so `start_link/1` returns at once and the
  manager answers `server/2` and `status/1` while the node starts; `server(manager,
  wait_ms: ms)` waits for it.

  The node is never left behind: it runs with `--exit-on-stdin-eof`, so it shuts down
  (and unlinks its segments) when its Port closes — when the manager stops
  (`terminate/2` stops it and waits for its OS process), crashes, or when the whole
  BEAM dies, even by SIGKILL (the kernel closes the pipe; `manager_test.exs` checks
  this with a separate BEAM).

  ## Backoff

  The n-th consecutive failure (a node that died, or a start that failed) is followed
  by a wait of `min(backoff_initial_ms * 2^(n-1), backoff_max_ms)` before the next start:
  with the defaults 500 ms, 1 s, 2 s, 4 s, 8 s, 16 s, then 30 s for every further one.
  The count goes back to zero when a node stays up at least `backoff_reset_ms`
  (default 30 s) before it dies, so a node that crashes once a day restarts after
  500 ms, and one that crashes at once keeps waiting 30 s between tries. The manager
  never gives up; `status/1` and the `:down` events show what failed.

  ## While the node is down

  `server/2` returns `{:error, %SnakepitShm.Error{code: :not_found, details:
  %{reason: :nodedown, ...}}}` with a remediation and the manager's `status`
  (`:starting` or `:down`), `retry_in_ms` and `last_error`. Calls made with a node name
  obtained earlier fail as promptly, with the client's own `:not_found` / `reason:
  :nodedown` (see "When the node is down" in `SnakepitShm`): the connection closed with
  the node's OS process, and epmd no longer lists the name. After the restart the same
  node name works again without reconnecting; region ids of the dead run are
  `:not_found`.

  ## Options

  Every option of `SnakepitShm.NodeProcess.start/1` (`cookie`, `shm_dir`, `config`,
  `config_file`, `audit_log`, `operator_key_file`, `launcher`, `stderr_path`, `echo`,
  `ready_timeout_ms`), read like there from `config :snakepit, :shared_memory` with
  the explicit options winning, plus:

    * `:name` — the manager's registered name (default `SnakepitShm.Manager`; `nil`
      for none). Not the node's name: that is `:node_name`, or `name:` in `config
      :snakepit, :shared_memory`;
    * `:node_name` — the node's name, passed as `--name` (default: the application
      environment's `name`, else the launcher's `snakepit_shm@<host>`);
    * `:start_distribution` — as in `SnakepitShm.connect/2`: a name (or `{name,
      :shortnames | :longnames}`) to start distribution with when this BEAM is not
      distributed. Without it the BEAM must already be distributed (`--sname`), else
      `start_link/1` fails with `:invalid_request`;
    * `:backoff_initial_ms` (default 500), `:backoff_max_ms` (default 30000),
      `:backoff_reset_ms` (default 30000) — see "Backoff".

  The cookie is fixed once, when the manager starts (the option, the application
  environment's, this BEAM's when it is distributed, else a random one), and used for
  every restart. Bad options (`:config` entries, a missing launcher, backoff values
  that are not positive integers) make `start_link/1` return `{:error,
  %SnakepitShm.Error{code: :invalid_request | :not_found}}` before anything runs.

  ## Telemetry

  Through `SnakepitShm.Telemetry`:

    * `[:snakepit, :shm, :manager, :up]` — the node is ready and connected.
      Measurements `%{duration: native}` (start to connected), metadata `%{manager,
      node, os_pid, attempt, restarts}`;
    * `[:snakepit, :shm, :manager, :down]` — the node died or a start failed; the next
      start is in `retry_in_ms`. Measurements `%{retry_in_ms: ms, uptime_ms: ms | 0}`,
      metadata `%{manager, node, os_pid, reason: {:exit_status, n} | :start_failed,
      error: %SnakepitShm.Error{}, attempt, restarts}`.

  `manager` is the registered name (or the pid); `attempt` counts consecutive failures
  (back to 0 only after a node stayed up `backoff_reset_ms`); `restarts` counts the
  nodes that died after being up.
  """

  use GenServer

  require Logger

  alias SnakepitShm.{Error, NodeProcess, Telemetry}

  @typedoc "A manager: its registered name or pid."
  @type manager :: GenServer.server()

  @typedoc "What `status/1` returns."
  @type status :: %{
          status: :starting | :up | :down,
          node: node() | nil,
          os_pid: pos_integer() | nil,
          attempt: non_neg_integer(),
          restarts: non_neg_integer(),
          retry_in_ms: non_neg_integer() | nil,
          uptime_ms: non_neg_integer() | nil,
          last_exit_status: integer() | nil,
          last_error: Error.t() | nil
        }

  @manager_keys [
    :name,
    :node_name,
    :start_distribution,
    :backoff_initial_ms,
    :backoff_max_ms,
    :backoff_reset_ms
  ]
  @backoff_defaults [backoff_initial_ms: 500, backoff_max_ms: 30_000, backoff_reset_ms: 30_000]
  # Time for terminate/2: NodeProcess.stop/2 waits up to 10 s, then TERM and KILL.
  @shutdown_ms 15_000
  @stop_timeout_ms 10_000

  # ---------------------------------------------------------------------------------
  # API
  # ---------------------------------------------------------------------------------

  @doc """
  A child spec for a supervisor: `{SnakepitShm.Manager, opts}`. The id is the
  manager's `:name`, so several managers (of different node names and shm dirs) can
  run under one supervisor; the shutdown time (15 s) lets `terminate/2` stop the node.
  """
  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{
      id: Keyword.get(opts, :name, __MODULE__),
      start: {__MODULE__, :start_link, [opts]},
      type: :worker,
      restart: :permanent,
      shutdown: @shutdown_ms
    }
  end

  @doc """
  Starts the manager (see "Options"); the node starts in the background. Returns
  `{:ok, pid}`, or `{:error, %SnakepitShm.Error{}}` for bad options.
  """
  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts \\ []) do
    if Keyword.keyword?(opts) do
      name = Keyword.get(opts, :name, __MODULE__)
      gen_opts = if name, do: [name: name], else: []
      GenServer.start_link(__MODULE__, {name, opts}, gen_opts)
    else
      Error.new(
        :invalid_request,
        "the options of SnakepitShm.Manager are a keyword list, not #{inspect(opts)}",
        "write them as [shm_dir: \"/dev/shm\", node_name: \"snakepit_shm\"]"
      )
    end
  end

  @doc """
  The node to pass to `SnakepitShm` calls: `{:ok, node}` while it is up, else
  `{:error, %SnakepitShm.Error{code: :not_found, details: %{reason: :nodedown, manager:,
  status:, retry_in_ms:, attempt:, last_error:}}}`.

  Options: `wait_ms` (default 0) — while the node is not up, wait up to this long for
  it to come up before answering.
  """
  @spec server(manager(), keyword()) :: {:ok, node()} | {:error, Error.t()}
  def server(manager \\ __MODULE__, opts \\ []) do
    wait_ms = if Keyword.keyword?(opts), do: Keyword.get(opts, :wait_ms, 0), else: opts

    case wait_ms do
      # At most the largest `receive` timeout, less the 5 s margin of the call.
      wait_ms when is_integer(wait_ms) and wait_ms >= 0 and wait_ms <= 4_294_962_295 ->
        safe_call(manager, {:server, wait_ms}, wait_ms + 5_000)

      other ->
        Error.new(
          :invalid_request,
          "wait_ms must be a non-negative integer of milliseconds, not #{inspect(other)}",
          "pass wait_ms: 5000, or leave it out to answer at once",
          %{key: :wait_ms}
        )
    end
  end

  @doc """
  The manager's state: `status` (`:starting`, `:up` or `:down` — waiting to start
  again), the `node` and its `os_pid` (the last ones while not up), `attempt`
  (consecutive failures), `restarts`, `retry_in_ms` (while `:down`), `uptime_ms`
  (while `:up`), `last_exit_status` and `last_error`. Returns `{:ok, map}`, or the
  `:not_found` error when no such manager runs.
  """
  @spec status(manager()) :: {:ok, status()} | {:error, Error.t()}
  def status(manager \\ __MODULE__), do: safe_call(manager, :status, 5_000)

  @spec safe_call(manager(), term(), timeout()) :: term()
  defp safe_call(manager, request, timeout) do
    GenServer.call(manager, request, timeout)
  catch
    :exit, {reason, {GenServer, :call, _}} when reason in [:noproc, :normal, :shutdown] ->
      no_manager(manager)

    :exit, {{:shutdown, _}, {GenServer, :call, _}} ->
      no_manager(manager)

    :exit, {:timeout, {GenServer, :call, _}} ->
      Error.new(
        :timeout,
        "SnakepitShm.Manager #{inspect(manager)} did not answer within #{timeout} ms",
        "check that the manager process is not blocked (Process.info/2)",
        %{manager: manager}
      )
  end

  @spec no_manager(manager()) :: {:error, Error.t()}
  defp no_manager(manager) do
    Error.new(
      :not_found,
      "no SnakepitShm.Manager #{inspect(manager)} runs",
      "add {SnakepitShm.Manager, opts} to your supervision tree (README \"Supervision\"), " <>
        "or pass the name it was started with",
      %{manager: manager, reason: :noproc}
    )
  end

  # ---------------------------------------------------------------------------------
  # GenServer
  # ---------------------------------------------------------------------------------

  @impl GenServer
  def init({name, opts}) do
    with {:ok, settings} <- settings(opts),
         node_opts = node_opts(opts),
         :ok <- NodeProcess.check_opts(node_opts),
         :ok <- check_distribution(settings.start_distribution) do
      # Exits of the starter arrive as messages, and terminate/2 runs on shutdown.
      Process.flag(:trap_exit, true)

      node_opts =
        Keyword.merge(node_opts, cookie: cookie(node_opts), controller: self(), notify: self())

      state = %{
        manager: name || self(),
        settings: settings,
        node_opts: node_opts,
        status: :starting,
        info: nil,
        node: nil,
        os_pid: nil,
        starter: nil,
        started_at: nil,
        up_since: nil,
        early_exit: nil,
        attempt: 0,
        restarts: 0,
        retry_timer: nil,
        retry_at: nil,
        last_exit_status: nil,
        last_error: nil,
        waiters: %{}
      }

      {:ok, state, {:continue, :start}}
    else
      {:error, %Error{} = error} -> {:stop, error}
    end
  end

  @impl GenServer
  def handle_continue(:start, state), do: {:noreply, start_node(state)}

  @impl GenServer
  def handle_call(:status, _from, state), do: {:reply, {:ok, status_map(state)}, state}

  def handle_call({:server, _wait_ms}, _from, %{status: :up, node: node} = state),
    do: {:reply, {:ok, node}, state}

  def handle_call({:server, 0}, _from, state), do: {:reply, down_error(state), state}

  def handle_call({:server, wait_ms}, from, state) do
    ref = make_ref()
    timer = Process.send_after(self(), {:waiter_timeout, ref}, wait_ms)
    {:noreply, %{state | waiters: Map.put(state.waiters, ref, {from, timer})}}
  end

  @impl GenServer
  def handle_info({:started, starter, result}, %{starter: starter} = state) do
    state = %{state | starter: nil}

    case {result, state.early_exit} do
      {{:ok, %{owner: owner} = info}, {owner, status}} ->
        # It died between `ready` and the end of connect.
        state = %{state | info: info, node: info.node, os_pid: info.os_pid}
        {:noreply, node_died(state, status, 0)}

      {{:ok, info}, _} ->
        {:noreply, node_up(state, info)}

      {{:error, error}, _} ->
        {:noreply, start_failed(state, error)}
    end
  end

  def handle_info({:snakepit_shm_node_exited, owner, %{status: status}}, state) do
    cond do
      state.status == :up and state.info.owner == owner ->
        uptime_ms = System.monotonic_time(:millisecond) - state.up_since
        {:noreply, node_died(state, status, uptime_ms)}

      state.status == :starting ->
        {:noreply, %{state | early_exit: {owner, status}}}

      true ->
        {:noreply, state}
    end
  end

  def handle_info({:retry, timer}, %{retry_timer: timer} = state),
    do: {:noreply, start_node(%{state | retry_timer: nil, retry_at: nil})}

  def handle_info({:waiter_timeout, ref}, state) do
    case Map.pop(state.waiters, ref) do
      {{from, _timer}, waiters} ->
        GenServer.reply(from, down_error(state))
        {:noreply, %{state | waiters: waiters}}

      {nil, _} ->
        {:noreply, state}
    end
  end

  def handle_info({:EXIT, starter, reason}, %{starter: starter} = state) when reason != :normal do
    error =
      Error.new(
        :platform_error,
        "the process starting the snakepit-shm node exited: #{inspect(reason)}",
        "this is a bug in SnakepitShm.Manager; please report it"
      )

    {:noreply, start_failed(%{state | starter: nil}, elem(error, 1))}
  end

  def handle_info(_other, state), do: {:noreply, state}

  @impl GenServer
  def terminate(_reason, state) do
    if is_pid(state.starter), do: Process.exit(state.starter, :kill)

    # A node that is up is stopped and waited for; one that is starting sees this
    # process (its controller) end and closes its Port itself.
    case state do
      %{status: :up, info: info} -> _ = NodeProcess.stop(info, @stop_timeout_ms)
      _ -> :ok
    end

    :ok
  end

  # ---------------------------------------------------------------------------------
  # States
  # ---------------------------------------------------------------------------------

  @spec start_node(map()) :: map()
  defp start_node(state) do
    manager = self()
    node_opts = state.node_opts
    start_distribution = state.settings.start_distribution

    starter =
      spawn_link(fn ->
        send(manager, {:started, self(), start_and_connect(node_opts, start_distribution)})
      end)

    %{
      state
      | status: :starting,
        starter: starter,
        started_at: System.monotonic_time(),
        early_exit: nil
    }
  end

  @spec start_and_connect(keyword(), term()) :: {:ok, NodeProcess.t()} | {:error, Error.t()}
  defp start_and_connect(node_opts, start_distribution) do
    with {:ok, info} <- NodeProcess.start(node_opts) do
      connect_opts = [cookie: info.cookie, start_distribution: start_distribution]

      case SnakepitShm.connect(info.node, connect_opts) do
        :ok ->
          {:ok, info}

        {:error, _} = error ->
          _ = NodeProcess.stop(info)
          error
      end
    end
  end

  @spec node_up(map(), NodeProcess.t()) :: map()
  defp node_up(state, info) do
    now = System.monotonic_time()

    Logger.info(
      "snakepit-shm node #{info.node} is up (OS pid #{info.os_pid}, " <>
        "manager #{inspect(state.manager)})"
    )

    Telemetry.execute(
      [:snakepit, :shm, :manager, :up],
      %{duration: now - state.started_at},
      %{
        manager: state.manager,
        node: info.node,
        os_pid: info.os_pid,
        attempt: state.attempt,
        restarts: state.restarts
      }
    )

    for {_ref, {from, timer}} <- state.waiters do
      Process.cancel_timer(timer)
      GenServer.reply(from, {:ok, info.node})
    end

    %{
      state
      | status: :up,
        info: info,
        node: info.node,
        os_pid: info.os_pid,
        up_since: System.convert_time_unit(now, :native, :millisecond),
        waiters: %{},
        last_error: nil
    }
  end

  @spec node_died(map(), integer(), non_neg_integer()) :: map()
  defp node_died(state, exit_status, uptime_ms) do
    # Lets the Port's owner process end (the node is gone already).
    _ = NodeProcess.stop(state.info, 0)

    {:error, error} =
      Error.new(
        :not_found,
        "snakepit-shm node #{state.node} (OS pid #{state.os_pid}) exited with status " <>
          "#{exit_status} after #{uptime_ms} ms up",
        "the manager starts it again; the node's stderr (stderr_path) says why it ended",
        %{reason: :nodedown, node: state.node, os_pid: state.os_pid, exit_status: exit_status}
      )

    attempt = if uptime_ms >= state.settings.backoff_reset_ms, do: 1, else: state.attempt + 1

    state = %{
      state
      | info: nil,
        up_since: nil,
        attempt: attempt,
        restarts: state.restarts + 1,
        last_exit_status: exit_status,
        last_error: error
    }

    go_down(state, {:exit_status, exit_status}, uptime_ms)
  end

  @spec start_failed(map(), Error.t()) :: map()
  defp start_failed(state, error) do
    go_down(%{state | attempt: state.attempt + 1, last_error: error}, :start_failed, 0)
  end

  @spec go_down(map(), term(), non_neg_integer()) :: map()
  defp go_down(state, reason, uptime_ms) do
    delay_ms = backoff_ms(state.settings, state.attempt)
    timer = make_ref()
    Process.send_after(self(), {:retry, timer}, delay_ms)

    Logger.warning(
      "snakepit-shm node #{state.node || "(not started)"} is down " <>
        "(#{describe_reason(reason)}: #{last_error_text(state)}); " <>
        "starting it again in #{delay_ms} ms (attempt #{state.attempt})"
    )

    Telemetry.execute(
      [:snakepit, :shm, :manager, :down],
      %{retry_in_ms: delay_ms, uptime_ms: uptime_ms},
      %{
        manager: state.manager,
        node: state.node,
        os_pid: state.os_pid,
        reason: reason,
        error: state.last_error,
        attempt: state.attempt,
        restarts: state.restarts
      }
    )

    %{
      state
      | status: :down,
        retry_timer: timer,
        retry_at: System.monotonic_time(:millisecond) + delay_ms
    }
  end

  @spec describe_reason(term()) :: String.t()
  defp describe_reason({:exit_status, status}), do: "exit status #{status}"
  defp describe_reason(:start_failed), do: "start failed"

  @doc """
  The wait before the next start after the `attempt`-th consecutive failure (see
  "Backoff").

      iex> settings = %{backoff_initial_ms: 500, backoff_max_ms: 30_000}
      iex> Enum.map(1..8, &SnakepitShm.Manager.backoff_ms(settings, &1))
      [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
  """
  @spec backoff_ms(map(), pos_integer()) :: pos_integer()
  def backoff_ms(%{backoff_initial_ms: initial_ms, backoff_max_ms: max_ms}, attempt)
      when attempt >= 1 do
    # The exponent is bounded so that huge attempt counts stay cheap.
    min(initial_ms * Integer.pow(2, min(attempt - 1, 40)), max_ms)
  end

  # ---------------------------------------------------------------------------------
  # Answers
  # ---------------------------------------------------------------------------------

  @spec status_map(map()) :: status()
  defp status_map(state) do
    now_ms = System.monotonic_time(:millisecond)

    %{
      status: state.status,
      node: state.node,
      os_pid: state.os_pid,
      attempt: state.attempt,
      restarts: state.restarts,
      retry_in_ms: if(state.retry_at, do: max(state.retry_at - now_ms, 0)),
      uptime_ms: if(state.up_since, do: now_ms - state.up_since),
      last_exit_status: state.last_exit_status,
      last_error: state.last_error
    }
  end

  @spec down_error(map()) :: {:error, Error.t()}
  defp down_error(state) do
    status = status_map(state)

    what =
      case status do
        %{status: :starting, attempt: 0} ->
          "is starting"

        %{status: :starting, attempt: attempt} ->
          "is starting again (after #{attempt} failure(s); last: #{last_error_text(state)})"

        %{status: :down, retry_in_ms: retry_in_ms} ->
          "is down (#{last_error_text(state)}); the manager starts it again in " <>
            "#{retry_in_ms} ms"
      end

    Error.new(
      :not_found,
      "the snakepit-shm node of SnakepitShm.Manager #{inspect(state.manager)} #{what}",
      "retry once it is up: SnakepitShm.Manager.server(manager, wait_ms: 5000) waits for " <>
        "it; SnakepitShm.Manager.status/1 and the [:snakepit, :shm, :manager, :down] " <>
        "event tell why it is down",
      %{
        reason: :nodedown,
        manager: state.manager,
        node: state.node,
        status: status.status,
        retry_in_ms: status.retry_in_ms,
        attempt: status.attempt,
        last_error: state.last_error
      }
    )
  end

  @spec last_error_text(map()) :: String.t()
  defp last_error_text(%{last_error: %Error{message: message}}), do: message
  defp last_error_text(_state), do: "no error recorded"

  # ---------------------------------------------------------------------------------
  # Options
  # ---------------------------------------------------------------------------------

  # The manager's own settings: explicit options over `config :snakepit, :shared_memory`
  # over the defaults.
  @spec settings(keyword()) :: {:ok, map()} | {:error, Error.t()}
  defp settings(opts) do
    app_env = Application.get_env(:snakepit, :shared_memory, [])
    app_env = if Keyword.keyword?(app_env), do: app_env, else: Map.to_list(app_env)

    merged =
      @backoff_defaults
      |> Keyword.merge(
        Keyword.take(app_env, [:start_distribution | Keyword.keys(@backoff_defaults)])
      )
      |> Keyword.merge(
        Keyword.take(opts, [:start_distribution | Keyword.keys(@backoff_defaults)])
      )

    bad =
      Enum.find(Keyword.keys(@backoff_defaults), fn key ->
        not (is_integer(merged[key]) and merged[key] > 0)
      end)

    if bad do
      Error.new(
        :invalid_request,
        "#{bad} must be a positive integer of milliseconds, not #{inspect(merged[bad])}",
        "leave it out for the default (#{@backoff_defaults[bad]})",
        %{key: bad}
      )
    else
      {:ok, Map.new(merged) |> Map.put_new(:start_distribution, nil)}
    end
  end

  # The options for NodeProcess.start/1: everything but the manager's keys, with
  # `:node_name` as `:name`.
  @spec node_opts(keyword()) :: keyword()
  defp node_opts(opts) do
    node_opts = Keyword.drop(opts, @manager_keys)

    case Keyword.fetch(opts, :node_name) do
      {:ok, node_name} when node_name != nil -> Keyword.put(node_opts, :name, node_name)
      _ -> node_opts
    end
  end

  # The cookie, fixed once for every restart.
  @spec cookie(keyword()) :: atom()
  defp cookie(node_opts) do
    case NodeProcess.effective_opts(node_opts)[:cookie] do
      nil -> if Node.alive?(), do: Node.get_cookie(), else: NodeProcess.random_cookie()
      cookie when is_binary(cookie) -> String.to_atom(cookie)
      cookie when is_atom(cookie) -> cookie
    end
  end

  @spec check_distribution(term()) :: :ok | {:error, Error.t()}
  defp check_distribution(start_distribution) do
    if Node.alive?() or start_distribution != nil do
      :ok
    else
      Error.new(
        :invalid_request,
        "this BEAM is not distributed (Node.alive?() is false), so SnakepitShm.Manager " <>
          "cannot connect to the node it starts",
        "start the BEAM with --sname/--name, or give the manager " <>
          "start_distribution: :my_app (it then calls Node.start/2 after the node " <>
          "started epmd)",
        %{key: :start_distribution}
      )
    end
  end
end
