defmodule Bench.OsProcess do
  @moduledoc "Waiting for, and if need be ending, an OS process by pid (via /proc and kill)."

  @doc "True while /proc/PID exists and the process is not a zombie."
  @spec alive?(pos_integer()) :: boolean()
  def alive?(os_pid) do
    case File.read("/proc/#{os_pid}/stat") do
      {:ok, stat} -> not String.contains?(stat, ") Z ")
      {:error, _} -> false
    end
  end

  @doc "Waits up to `timeout_ms` for the process to end; then TERM, 2 s, KILL. Returns :ok | :error."
  @spec ensure_exited(pos_integer(), non_neg_integer()) :: :ok | :error
  def ensure_exited(os_pid, timeout_ms) do
    cond do
      wait_exit(os_pid, timeout_ms) -> :ok
      signal(os_pid, "TERM") && wait_exit(os_pid, 2_000) -> :ok
      signal(os_pid, "KILL") && wait_exit(os_pid, 2_000) -> :ok
      true -> :error
    end
  end

  @doc "Sends a signal by name (`\"KILL\"`, `\"TERM\"`); true when kill succeeded."
  @spec signal(pos_integer(), String.t()) :: boolean()
  def signal(os_pid, name) do
    {_, status} = System.cmd("kill", ["-#{name}", Integer.to_string(os_pid)], stderr_to_stdout: true)
    status == 0
  end

  @doc "Polls every 10 ms until the process is gone; false after `timeout_ms`."
  @spec wait_exit(pos_integer(), non_neg_integer()) :: boolean()
  def wait_exit(os_pid, timeout_ms) do
    deadline = System.monotonic_time(:millisecond) + timeout_ms
    poll(os_pid, deadline)
  end

  defp poll(os_pid, deadline) do
    cond do
      not alive?(os_pid) -> true
      System.monotonic_time(:millisecond) >= deadline -> false
      true ->
        Process.sleep(10)
        poll(os_pid, deadline)
    end
  end
end

defmodule Bench.LinePort do
  @moduledoc """
  A child process on a Port whose stdout is read line by line and whose stderr is
  appended to a log file (through `/bin/sh -c 'exec ...'`, which keeps the OS pid).
  Closing the Port closes the child's stdin: every child of the benchmarks exits on EOF.
  """

  @type t :: %{port: port(), os_pid: pos_integer(), log: Path.t(), what: String.t()}

  @doc "Starts `exe args` with stderr appended to `log`; `env` as `[{name, value}]`."
  @spec open(String.t(), [String.t()], Path.t(), [{String.t(), String.t()}]) :: t()
  def open(exe, args, log, env \\ []) do
    script = ~S(exec "$0" "$@" 2>>"$SNKBENCH_STDERR")
    env = [{"SNKBENCH_STDERR", log} | env]

    port =
      Port.open({:spawn_executable, "/bin/sh"}, [
        :binary,
        :exit_status,
        :use_stdio,
        {:line, 65_536},
        {:args, ["-c", script, exe | args]},
        {:env, Enum.map(env, fn {k, v} -> {String.to_charlist(k), String.to_charlist(v)} end)}
      ])

    {:os_pid, os_pid} = Port.info(port, :os_pid)
    %{port: port, os_pid: os_pid, log: log, what: Path.basename(exe)}
  end

  @doc "Waits for a stdout line starting with `prefix`; returns the rest of that line."
  @spec await_line(t(), String.t(), pos_integer()) :: {:ok, String.t()} | {:error, String.t()}
  def await_line(%{port: port} = lp, prefix, timeout_ms) do
    deadline = System.monotonic_time(:millisecond) + timeout_ms
    await(lp, port, prefix, deadline, "")
  end

  defp await(lp, port, prefix, deadline, partial) do
    remaining = max(deadline - System.monotonic_time(:millisecond), 0)

    receive do
      {^port, {:data, {:noeol, chunk}}} ->
        await(lp, port, prefix, deadline, partial <> chunk)

      {^port, {:data, {:eol, chunk}}} ->
        line = partial <> chunk

        if String.starts_with?(line, prefix),
          do: {:ok, String.trim(String.replace_prefix(line, prefix, ""))},
          else: await(lp, port, prefix, deadline, "")

      {^port, {:exit_status, status}} ->
        {:error, "#{lp.what} exited with status #{status} (log: #{lp.log}): #{tail(lp.log)}"}
    after
      remaining -> {:error, "#{lp.what} printed no '#{prefix}' line in time (log: #{lp.log}): #{tail(lp.log)}"}
    end
  end

  @doc "Closes stdin (the child exits on EOF) and makes sure the OS process ends."
  @spec close(t(), non_neg_integer()) :: :ok | :error
  def close(%{port: port, os_pid: os_pid}, timeout_ms \\ 10_000) do
    try do
      Port.close(port)
    rescue
      ArgumentError -> :already_closed
    end

    Bench.OsProcess.ensure_exited(os_pid, timeout_ms)
  end

  @doc "The last lines of a log file, for error messages."
  @spec tail(Path.t()) :: String.t()
  def tail(log) do
    case File.read(log) do
      {:ok, text} -> text |> String.split("\n", trim: true) |> Enum.take(-8) |> Enum.join(" | ")
      {:error, _} -> ""
    end
  end
end

defmodule Bench.Manager do
  @moduledoc """
  The snakepit-shm node under test, started through its launcher:
  `java_node/bin/snakepit-shm node --name snkbench_RID_ROLE --cookie-file F
  --shm-dir DIR --exit-on-stdin-eof`, stderr to `OUT/logs/ROLE.log`.
  """

  @type t :: %{lp: Bench.LinePort.t(), node: node(), shm_dir: Path.t(), log: Path.t()}

  @doc "Starts a node serving `shm_dir` and waits for `ready`."
  @spec start!(Bench.Context.t(), String.t(), Path.t()) :: t()
  def start!(ctx, role, shm_dir) do
    launcher = Path.join(ctx.root, "java_node/bin/snakepit-shm")
    log = log_path(ctx, role)
    name = Atom.to_string(Bench.Context.node_name(ctx, role))

    args = ["node", "--name", name, "--cookie-file", ctx.cookie_file, "--shm-dir", shm_dir,
            "--exit-on-stdin-eof"]

    lp = Bench.LinePort.open(launcher, args, log)

    case Bench.LinePort.await_line(lp, "ready ", 60_000) do
      {:ok, full_name} ->
        node = String.to_atom(full_name)
        true = Node.connect(node)
        %{lp: lp, node: node, shm_dir: shm_dir, log: log}

      {:error, reason} ->
        Bench.LinePort.close(lp)
        Bench.Context.fail!("the snakepit-shm node did not start: #{reason}")
    end
  end

  @doc """
  Runs `fun.(manager)` with a node (role `node`) serving a fresh shm dir made for
  `purpose`; always stops the node and removes the dir, also when `fun` raises.
  """
  @spec with_node(Bench.Context.t(), String.t(), (t() -> result)) :: result when result: term()
  def with_node(ctx, purpose, fun) do
    dir = Bench.Context.shm_dir!(ctx, purpose)

    try do
      manager = start!(ctx, "node", dir)

      try do
        fun.(manager)
      after
        stop(manager)
      end
    after
      Bench.Context.remove_dir(dir)
    end
  end

  @doc "Stops the node (stdin EOF: it unlinks its segments and exits)."
  @spec stop(t()) :: :ok | :error
  def stop(%{lp: lp}), do: Bench.LinePort.close(lp)

  @doc "Kills the node with SIGKILL, as a crash would, and waits until it is gone."
  @spec kill9(t()) :: :ok
  def kill9(%{lp: lp}) do
    Bench.OsProcess.signal(lp.os_pid, "KILL")
    Bench.OsProcess.wait_exit(lp.os_pid, 10_000)
    Bench.LinePort.close(lp, 1_000)
    :ok
  end

  @doc "`GenServer.call` to the node's `snakepit_shm` process."
  @spec call(node(), term(), timeout()) :: term()
  def call(node, request, timeout_ms \\ 30_000),
    do: GenServer.call({:snakepit_shm, node}, request, timeout_ms)

  @doc "Like `call/3`, the reply must be `{:ok, value}` or `:ok`."
  @spec ok!(node(), term(), timeout()) :: term()
  def ok!(node, request, timeout_ms \\ 30_000) do
    case call(node, request, timeout_ms) do
      {:ok, value} -> value
      :ok -> :ok
      other -> Bench.Context.fail!("#{inspect(request, limit: 5)} replied #{inspect(other, limit: 20)}")
    end
  end

  @doc "Log file of a child process of this run."
  @spec log_path(Bench.Context.t(), String.t()) :: Path.t()
  def log_path(ctx, role) do
    dir = Bench.Context.out_path(ctx, "logs")
    File.mkdir_p!(dir)
    Path.join(dir, "#{ctx.part}-#{role}.log")
  end
end

defmodule Bench.Baseline do
  @moduledoc """
  The pure-Elixir baseline server (`benchmarks/erlang_baseline.exs`) on its own BEAM,
  started as `elixir erlang_baseline.exs --name snkbench_RID_erl --cookie-file F`. It
  registers `snakepit_shm` like the node, so the same client code calls both.
  """

  @doc "Starts the baseline BEAM and connects to it; returns `%{lp, node}`."
  @spec start!(Bench.Context.t()) :: %{lp: Bench.LinePort.t(), node: node()}
  def start!(ctx) do
    elixir = System.find_executable("elixir") || Bench.Context.fail!("elixir not found on PATH")
    script = Path.join(ctx.root, "benchmarks/erlang_baseline.exs")
    name = Atom.to_string(Bench.Context.node_name(ctx, "erl"))
    lp = Bench.LinePort.open(elixir, [script, "--name", name, "--cookie-file", ctx.cookie_file],
                             Bench.Manager.log_path(ctx, "erl"))

    case Bench.LinePort.await_line(lp, "ready ", 60_000) do
      {:ok, full_name} ->
        node = String.to_atom(full_name)
        true = Node.connect(node)
        %{lp: lp, node: node}

      {:error, reason} ->
        Bench.LinePort.close(lp)
        Bench.Context.fail!("the Erlang baseline node did not start: #{reason}")
    end
  end

  @doc "Stops the baseline BEAM (stdin EOF)."
  @spec stop(%{lp: Bench.LinePort.t()}) :: :ok | :error
  def stop(%{lp: lp}), do: Bench.LinePort.close(lp)
end

defmodule Bench.Python do
  @moduledoc """
  A Python helper on a Port with `{:packet, 4}` framing: requests are JSON packets,
  replies are `ok key=value ...` packets (or raw data packets where a request says so).
  `PYTHONPATH` includes `python_demo`, so the helper uses the real `snakepit_shm.attach`.
  """

  @type t :: %{port: port(), os_pid: pos_integer()}

  @doc "Starts `python3 benchmarks/py/SCRIPT --run-id RID`."
  @spec start!(Bench.Context.t(), String.t()) :: t()
  def start!(ctx, script) do
    python = System.find_executable("python3") || Bench.Context.fail!("python3 not found on PATH")
    path = Path.join(ctx.root, "benchmarks/py/#{script}")

    port =
      Port.open({:spawn_executable, python}, [
        :binary,
        :exit_status,
        {:packet, 4},
        {:args, [path, "--run-id", ctx.run_id]},
        {:env, [{~c"PYTHONPATH", String.to_charlist(Path.join(ctx.root, "python_demo"))}]}
      ])

    {:os_pid, os_pid} = Port.info(port, :os_pid)
    worker = %{port: port, os_pid: os_pid}
    _ = request!(worker, %{op: "ping"})
    worker
  end

  @doc "Sends a JSON request (and optional raw data packets) and parses the `ok` reply."
  @spec request!(t(), map(), [iodata()], timeout()) :: %{String.t() => String.t()}
  def request!(%{port: port} = worker, request, data \\ [], timeout_ms \\ 600_000) do
    send_request(worker, request, data)
    parse_reply(await_packet(port, timeout_ms))
  end

  @doc "Sends a JSON request followed by raw data packets, without waiting."
  @spec send_request(t(), map(), [iodata()]) :: :ok
  def send_request(%{port: port}, request, data \\ []) do
    true = Port.command(port, Bench.Json.encode(request))
    Enum.each(data, fn packet -> true = Port.command(port, packet) end)
    :ok
  end

  @doc "Receives the next packet from the helper."
  @spec await_packet(port(), timeout()) :: binary()
  def await_packet(port, timeout_ms \\ 600_000) do
    receive do
      {^port, {:data, packet}} -> packet
      {^port, {:exit_status, status}} -> Bench.Context.fail!("the Python helper exited with status #{status}")
    after
      timeout_ms -> Bench.Context.fail!("the Python helper did not answer in #{timeout_ms} ms")
    end
  end

  @doc "Parses `ok k=v ...` into a map; fails the benchmark on `error ...`."
  @spec parse_reply(binary()) :: %{String.t() => String.t()}
  def parse_reply("ok" <> rest) do
    rest
    |> String.split(" ", trim: true)
    |> Map.new(fn pair -> List.to_tuple(String.split(pair, "=", parts: 2)) end)
  end

  def parse_reply(other), do: Bench.Context.fail!("the Python helper replied: #{other}")

  @doc "Closes the Port (stdin EOF ends the helper) and makes sure it is gone."
  @spec stop(t()) :: :ok | :error
  def stop(%{port: port, os_pid: os_pid}) do
    try do
      Port.close(port)
    rescue
      ArgumentError -> :already_closed
    end

    Bench.OsProcess.ensure_exited(os_pid, 10_000)
  end
end
