defmodule SnakepitShm.Snakepit.Worker do
  @moduledoc """
  One Python worker process (`python3 -u -m snakepit_shm.worker`, from `python_demo`)
  behind a GenServer, in one of two modes — the two worker profiles of
  `SnakepitShm.Snakepit.Pool`:

    * **process** (`threads: nil`): the line protocol of `SnakepitShm.PythonWorker`, one
      request at a time. Requests that arrive while one runs wait here, in order, and
      are written when the reply comes. A request that times out restarts the Python
      process: its late reply could otherwise be taken for the next request's.
    * **thread** (`threads: n`): `python3 -u -m snakepit_shm.worker --threads n`. Every
      request carries `"req": <integer>` and is written at once; the Python side serves
      up to `n` of them concurrently on threads that share one mapping per segment, and
      prefixes each reply line with its `req` (`17 ok sha256=...`), in any order. This
      module matches replies to callers by that number, so a request that times out is
      simply forgotten (its late reply is dropped) and the others are unaffected.

  Requests are maps (atom or string keys) encoded as one JSON line; replies are
  `{:ok, fields}` (`SnakepitShm.WorkerReply`) or `{:error, %SnakepitShm.Error{}}`.

  When the Python process exits, the requests in flight fail with `:platform_error` and
  a new Python process is started (`restarts` counts them); if that fails, the worker
  stops. Closing the Port ends Python (EOF on stdin), so a worker that dies, however it
  dies, leaves no Python process behind; `stop/1` also waits for the OS process to end.
  """

  use GenServer

  require Logger

  alias SnakepitShm.{Error, JSON, OsProcess, Paths, PythonPort, WorkerReply}

  @max_line_bytes 1_048_576
  @default_start_timeout_ms 15_000
  @call_margin_ms 5_000

  @typedoc "A worker's reply."
  @type reply :: {:ok, WorkerReply.fields()} | {:error, Error.t()}

  @typedoc """
  Start options: `id` (a name for logs), `threads` (`nil`: process mode; n >= 1: thread
  mode), `owner` (a pid the worker links to once started), `python`, `python_path`,
  `stderr_path`, `env` (`[{name, value}]` strings), `start_timeout_ms`.
  """
  @type option ::
          {:id, String.t()}
          | {:threads, pos_integer() | nil}
          | {:owner, pid()}
          | {:python, Path.t()}
          | {:python_path, Path.t()}
          | {:stderr_path, Path.t() | nil}
          | {:env, [{String.t(), String.t()}]}
          | {:start_timeout_ms, pos_integer()}

  @doc """
  Starts a worker (not linked to the caller; linked to `owner:` when given) and waits
  until Python answered `ping`. In thread mode the ping reply must report the asked
  number of threads, so a Python side without `--threads` is a clear error.
  """
  @spec start([option()]) :: {:ok, pid()} | {:error, Error.t()}
  def start(opts) do
    case GenServer.start(__MODULE__, opts) do
      {:ok, pid} -> {:ok, pid}
      {:error, %Error{} = error} -> {:error, error}
      {:error, other} -> Error.new(:platform_error, "worker did not start: #{inspect(other)}")
      :ignore -> Error.new(:platform_error, "worker did not start")
    end
  end

  @doc """
  Sends `request` and waits for its reply, at most `timeout_ms`. Safe to call from many
  processes at once; in thread mode their requests run concurrently in Python.
  """
  @spec execute(GenServer.server(), map(), pos_integer()) :: reply()
  def execute(worker, request, timeout_ms) when is_map(request) and is_integer(timeout_ms) do
    GenServer.call(worker, {:execute, request, timeout_ms}, timeout_ms + @call_margin_ms)
  catch
    :exit, reason -> exit_error(worker, reason)
  end

  @doc """
  What the worker is: `%{id, mode, threads, capacity, load, os_pid, python_pid,
  requests, errors, timeouts, restarts, peak_load}` (`load`: requests in flight or
  waiting here; `peak_load`: the most there ever were at once).
  """
  @spec info(GenServer.server()) :: map()
  def info(worker), do: GenServer.call(worker, :info)

  @doc "Stops the worker and waits for its Python process to end."
  @spec stop(GenServer.server()) :: :ok
  def stop(worker) do
    GenServer.stop(worker, :normal, 30_000)
  catch
    :exit, _ -> :ok
  end

  # ------------------------------------------------------------------------------------
  # GenServer
  # ------------------------------------------------------------------------------------

  @impl GenServer
  def init(opts) do
    Process.flag(:trap_exit, true)

    config = %{
      id: Keyword.get(opts, :id, "worker"),
      threads: Keyword.get(opts, :threads),
      python: Keyword.get(opts, :python),
      python_path: Keyword.get(opts, :python_path) || Paths.python_demo(),
      stderr_path: Keyword.get(opts, :stderr_path),
      env: Keyword.get(opts, :env, []),
      start_timeout_ms: Keyword.get(opts, :start_timeout_ms, @default_start_timeout_ms)
    }

    state = %{
      config: config,
      mode: if(config.threads, do: :thread, else: :process),
      port: nil,
      os_pid: nil,
      python_pid: nil,
      buffer: "",
      next_req: 0,
      pending: %{},
      inflight: nil,
      queue: :queue.new(),
      owner: Keyword.get(opts, :owner),
      stats: %{requests: 0, errors: 0, timeouts: 0, restarts: 0, peak_load: 0}
    }

    case launch(state) do
      {:ok, state} ->
        if state.owner, do: Process.link(state.owner)
        {:ok, state}

      {:error, error} ->
        {:stop, error}
    end
  end

  @impl GenServer
  def handle_call({:execute, request, timeout_ms}, from, state) do
    {req, state} = next_req(state)

    case encode(state.mode, request, req) do
      {:ok, line} ->
        timer = Process.send_after(self(), {:request_timeout, req}, timeout_ms)
        op = request[:op] || request["op"]
        entry = %{from: from, timer: timer, op: op, line: line}
        pending = Map.put(state.pending, req, entry)
        peak = max(state.stats.peak_load, map_size(pending))
        state = %{state | pending: pending, stats: %{state.stats | peak_load: peak}}
        state = bump(state, :requests)
        {:noreply, dispatch(state, req)}

      {:error, _} = error ->
        {:reply, error, state}
    end
  end

  def handle_call(:info, _from, state) do
    info = %{
      id: state.config.id,
      mode: state.mode,
      threads: state.config.threads,
      capacity: state.config.threads || 1,
      load: map_size(state.pending),
      os_pid: state.os_pid,
      python_pid: state.python_pid
    }

    {:reply, Map.merge(info, state.stats), state}
  end

  @impl GenServer
  def handle_info({port, {:data, {:noeol, chunk}}}, %{port: port} = state),
    do: {:noreply, %{state | buffer: state.buffer <> chunk}}

  def handle_info({port, {:data, {:eol, chunk}}}, %{port: port} = state) do
    line = state.buffer <> chunk
    {:noreply, handle_line(%{state | buffer: ""}, line)}
  end

  def handle_info({port, {:exit_status, status}}, %{port: port} = state) do
    Logger.warning(
      "SnakepitShm.Snakepit.Worker #{state.config.id}: Python (OS pid #{state.os_pid}) " <>
        "exited with status #{status}; #{map_size(state.pending)} request(s) fail, restarting"
    )

    state = fail_all(%{state | port: nil}, "exited with status #{status}")
    relaunch(state)
  end

  def handle_info({:request_timeout, req}, state) do
    case Map.pop(state.pending, req) do
      {nil, _pending} ->
        {:noreply, state}

      {entry, pending} ->
        GenServer.reply(entry.from, timeout_error(state, entry))
        state = bump(%{state | pending: pending}, :timeouts)

        cond do
          state.mode == :thread ->
            {:noreply, state}

          state.inflight == req ->
            # The late reply would be taken for the next request's: start afresh.
            Logger.warning(
              "SnakepitShm.Snakepit.Worker #{state.config.id}: request #{inspect(entry.op)} " <>
                "timed out; restarting the Python process (OS pid #{state.os_pid})"
            )

            state = close_port(%{state | inflight: nil})
            relaunch(state)

          true ->
            queue = :queue.filter(&(&1 != req), state.queue)
            {:noreply, %{state | queue: queue}}
        end
    end
  end

  def handle_info({:EXIT, owner, reason}, %{owner: owner} = state),
    do: {:stop, reason, state}

  def handle_info({:EXIT, _port_or_pid, _reason}, state), do: {:noreply, state}

  def handle_info(message, state) do
    Logger.debug("SnakepitShm.Snakepit.Worker #{state.config.id} ignored #{inspect(message)}")
    {:noreply, state}
  end

  @impl GenServer
  def terminate(_reason, state) do
    state = fail_all(state, "is stopping")
    _ = close_port(state)
    :ok
  end

  # ------------------------------------------------------------------------------------
  # Requests and replies
  # ------------------------------------------------------------------------------------

  @spec dispatch(map(), non_neg_integer()) :: map()
  defp dispatch(%{mode: :thread} = state, req), do: send_line(state, req)

  defp dispatch(%{mode: :process, inflight: nil} = state, req),
    do: send_line(%{state | inflight: req}, req)

  defp dispatch(%{mode: :process} = state, req),
    do: %{state | queue: :queue.in(req, state.queue)}

  @spec send_line(map(), non_neg_integer()) :: map()
  defp send_line(state, req) do
    %{line: line} = Map.fetch!(state.pending, req)

    try do
      Port.command(state.port, line)
    rescue
      # The port is closing: its exit_status message fails the request.
      ArgumentError -> :ok
    end

    state
  end

  # Process mode: the next waiting request, if any, goes out.
  @spec send_next(map()) :: map()
  defp send_next(%{mode: :process, inflight: nil} = state) do
    case :queue.out(state.queue) do
      {{:value, req}, queue} -> send_line(%{state | queue: queue, inflight: req}, req)
      {:empty, _} -> state
    end
  end

  defp send_next(state), do: state

  @spec handle_line(map(), String.t()) :: map()
  defp handle_line(%{mode: :process} = state, line) do
    case WorkerReply.parse(line) do
      :not_a_reply ->
        Logger.debug("SnakepitShm.Snakepit.Worker #{state.config.id}: skipped #{inspect(line)}")
        state

      reply ->
        case state.inflight do
          nil ->
            Logger.warning(
              "SnakepitShm.Snakepit.Worker #{state.config.id}: a reply nobody waits for: " <>
                inspect(line, limit: 200)
            )

            state

          req ->
            state = answer(%{state | inflight: nil}, req, reply)
            send_next(state)
        end
    end
  end

  defp handle_line(%{mode: :thread} = state, line) do
    with [req_text, rest] <- String.split(line, " ", parts: 2),
         {req, ""} <- Integer.parse(req_text),
         reply when reply != :not_a_reply <- WorkerReply.parse(rest) do
      answer(state, req, reply)
    else
      _ ->
        Logger.warning(
          "SnakepitShm.Snakepit.Worker #{state.config.id}: a line that answers no request: " <>
            inspect(line, limit: 200)
        )

        state
    end
  end

  @spec answer(map(), non_neg_integer(), {:ok, map()} | {:error, map()}) :: map()
  defp answer(state, req, reply) do
    case Map.pop(state.pending, req) do
      {nil, _} ->
        # Timed out earlier: the caller has its :timeout already.
        state

      {entry, pending} ->
        Process.cancel_timer(entry.timer)
        reply = normalize(reply, state, entry)
        GenServer.reply(entry.from, reply)
        state = %{state | pending: pending}
        if match?({:error, _}, reply), do: bump(state, :errors), else: state
    end
  end

  @spec normalize({:ok, map()} | {:error, map()}, map(), map()) :: reply()
  defp normalize({:ok, fields}, _state, _entry), do: {:ok, fields}

  defp normalize({:error, %{code: code, message: message}}, state, entry) do
    code = if is_atom(code), do: code, else: :platform_error

    Error.new(code, "Python worker #{state.config.id} (#{inspect(entry.op)}): #{message}", nil, %{
      worker: state.config.id,
      os_pid: state.os_pid,
      op: entry.op
    })
  end

  @spec fail_all(map(), String.t()) :: map()
  defp fail_all(state, why) do
    Enum.each(state.pending, fn {_req, entry} ->
      Process.cancel_timer(entry.timer)

      GenServer.reply(
        entry.from,
        Error.new(
          :platform_error,
          "the Python worker #{state.config.id} (OS pid #{state.os_pid}) #{why} before " <>
            "answering #{inspect(entry.op)}",
          "retry the request; the worker restarts its Python process",
          %{worker: state.config.id, os_pid: state.os_pid, op: entry.op}
        )
      )
    end)

    errors = state.stats.errors + map_size(state.pending)

    %{
      state
      | pending: %{},
        inflight: nil,
        queue: :queue.new(),
        stats: %{state.stats | errors: errors}
    }
  end

  @spec encode(:process | :thread, map(), non_neg_integer()) ::
          {:ok, iodata()} | {:error, Error.t()}
  defp encode(mode, request, req) do
    request = if mode == :thread, do: Map.put(request, "req", req), else: request
    {:ok, [JSON.encode_iodata(request), ?\n]}
  rescue
    error in ArgumentError ->
      Error.new(
        :invalid_request,
        "the request cannot be sent to Python as JSON: " <> Exception.message(error),
        "use maps, lists, strings, numbers, booleans, nil and descriptors only"
      )
  end

  @spec next_req(map()) :: {non_neg_integer(), map()}
  defp next_req(state), do: {state.next_req, %{state | next_req: state.next_req + 1}}

  @spec bump(map(), atom()) :: map()
  defp bump(state, key), do: %{state | stats: Map.update!(state.stats, key, &(&1 + 1))}

  @spec timeout_error(map(), map()) :: {:error, Error.t()}
  defp timeout_error(state, entry) do
    Error.new(
      :timeout,
      "the Python worker #{state.config.id} (OS pid #{state.os_pid}) did not answer " <>
        "#{inspect(entry.op)} in time",
      "give the request a longer timeout",
      %{worker: state.config.id, os_pid: state.os_pid, op: entry.op}
    )
  end

  @spec exit_error(GenServer.server(), term()) :: {:error, Error.t()}
  defp exit_error(worker, {:timeout, _}) do
    Error.new(:timeout, "the worker #{inspect(worker)} did not answer in time", nil, %{
      worker: worker
    })
  end

  defp exit_error(worker, reason) do
    Error.new(
      :platform_error,
      "the worker #{inspect(worker)} is gone: #{inspect(reason, limit: 10)}",
      "retry: the pool replaces workers that stop",
      %{worker: worker}
    )
  end

  # ------------------------------------------------------------------------------------
  # The Python process
  # ------------------------------------------------------------------------------------

  @spec relaunch(map()) :: {:noreply, map()} | {:stop, term(), map()}
  defp relaunch(state) do
    case launch(bump(state, :restarts)) do
      {:ok, state} ->
        {:noreply, send_next(state)}

      {:error, error} ->
        Logger.error(
          "SnakepitShm.Snakepit.Worker #{state.config.id}: cannot restart Python: " <>
            error.message
        )

        {:stop, {:shutdown, {:python_failed, error}}, %{state | port: nil}}
    end
  end

  @spec launch(map()) :: {:ok, map()} | {:error, Error.t()}
  defp launch(state) do
    with {:ok, python} <- PythonPort.find_python(state.config.python) do
      port = open_port(python, state.config)
      {:os_pid, os_pid} = Port.info(port, :os_pid)
      state = %{state | port: port, os_pid: os_pid, buffer: ""}
      {req, state} = next_req(state)
      {:ok, line} = encode(state.mode, %{op: "ping"}, req)
      Port.command(port, line)
      deadline = System.monotonic_time(:millisecond) + state.config.start_timeout_ms

      case await_ping(state, req, deadline) do
        {:ok, fields} -> check_ping(state, fields, python)
        {:error, why} -> launch_failed(state, python, why)
      end
    end
  end

  @spec check_ping(map(), map(), Path.t()) :: {:ok, map()} | {:error, Error.t()}
  defp check_ping(state, fields, python) do
    python_pid =
      case Integer.parse(Map.get(fields, "pid", "")) do
        {pid, ""} -> pid
        _ -> state.os_pid
      end

    threads = state.config.threads

    if threads == nil or Map.get(fields, "threads") == Integer.to_string(threads) do
      {:ok, %{state | python_pid: python_pid}}
    else
      launch_failed(
        state,
        python,
        "its ping reply #{inspect(fields)} does not report threads=#{threads}"
      )
    end
  end

  @spec await_ping(map(), non_neg_integer(), integer()) :: {:ok, map()} | {:error, String.t()}
  defp await_ping(state, req, deadline) do
    case PythonPort.await_reply(state.port, deadline, &ping_reply(state.mode, &1, req)) do
      {:reply, {:ok, fields}} -> {:ok, fields}
      {:reply, {:error, %{message: message}}} -> {:error, "ping answered: error #{message}"}
      {:exit_status, status} -> {:error, "it exited with status #{status}"}
      :timeout -> {:error, "it did not answer ping in time"}
    end
  end

  @spec ping_reply(:process | :thread, String.t(), non_neg_integer()) ::
          {:ok, map()} | {:error, map()} | :not_a_reply
  defp ping_reply(:process, line, _req), do: WorkerReply.parse(line)

  defp ping_reply(:thread, line, req) do
    prefix = Integer.to_string(req) <> " "

    if String.starts_with?(line, prefix),
      do: line |> String.replace_prefix(prefix, "") |> WorkerReply.parse(),
      else: :not_a_reply
  end

  @spec launch_failed(map(), Path.t(), String.t()) :: {:error, Error.t()}
  defp launch_failed(state, python, why) do
    _ = close_port(state)
    args = Enum.join(args(state.config), " ")

    Error.new(
      :platform_error,
      "the Python worker (#{python} #{args}, PYTHONPATH=#{state.config.python_path}) did " <>
        "not start: #{why}",
      "run `PYTHONPATH=#{state.config.python_path} #{python} #{args}` by hand and type " <>
        ~s({"op":"ping"#{if state.config.threads, do: ~s(,"req":0)}}) <>
        "; thread mode needs a snakepit_shm.worker that accepts --threads",
      %{worker: state.config.id}
    )
  end

  @spec close_port(map()) :: map()
  defp close_port(%{port: nil} = state), do: state

  defp close_port(%{port: port, os_pid: os_pid} = state) do
    if Port.info(port) != nil do
      try do
        Port.close(port)
      rescue
        ArgumentError -> :ok
      end
    end

    # EOF on stdin ends the worker; make sure it did.
    _ = OsProcess.ensure_exited(os_pid, 2_000)
    flush_port(port)
    %{state | port: nil}
  end

  @spec flush_port(port()) :: :ok
  defp flush_port(port) do
    receive do
      {^port, _} -> flush_port(port)
      {:EXIT, ^port, _} -> flush_port(port)
    after
      0 -> :ok
    end
  end

  @spec args(map()) :: [String.t()]
  defp args(config), do: PythonPort.worker_args(config.threads)

  @spec open_port(Path.t(), map()) :: port()
  defp open_port(python, config) do
    PythonPort.open(python, args(config),
      python_path: config.python_path,
      env: config.env,
      stderr_path: config.stderr_path,
      max_line_bytes: @max_line_bytes
    )
  end
end
