defmodule SnakepitShm.Demo do
  @moduledoc """
  The story told by `mix snakepit_shm.demo`: this BEAM starts the snakepit-shm node and
  two Python workers, they share memory by descriptor, holders crash and their regions
  go away, a Snakepit-style session runs work on pools of both worker profiles and its
  end frees its regions, and at the end nothing is left in the shm dir.

  `run/1` always stops what it started (workers, node, distribution), also when a step
  fails or raises, and returns `:ok` or `{:error, message}`.

  The calling process holds regions, so the node links to it; while the demo runs it
  traps exits, so a node that dies or disconnects turns into a failed step with a clear
  message instead of killing the caller with `:noconnection`. The node is stopped
  before distribution is, so its links end with a normal exit.

  The node's and the workers' stderr go to log files in `System.tmp_dir!/0`; they are
  printed and kept when the demo fails, and removed when it succeeds.
  """

  alias SnakepitShm.{NodeProcess, PythonWorker, Segments}
  alias SnakepitShm.Demo.{Say, Story}

  import SnakepitShm.Demo.Say, only: [line: 1, timed: 1, duration: 1]

  @default_count 1_000_000
  @default_pairs 1_000
  @default_shm_dir "/dev/shm"
  @worker_count 2
  @log_lines_shown 30

  @typedoc """
  Options: `count` (float64 values, default 1000000), `pairs` (latency round trips,
  default 1000), `shm_dir` (default the node's, /dev/shm), `launcher`.
  """
  @type opts :: [
          count: pos_integer(),
          pairs: pos_integer(),
          shm_dir: Path.t(),
          launcher: Path.t()
        ]

  @typedoc "Log files of the node and the workers."
  @type logs :: %{node: Path.t(), workers: Path.t()}

  @doc "Runs the whole demo; see the module doc."
  @spec run(opts()) :: :ok | {:error, String.t()}
  def run(opts) do
    suffix = 4 |> :crypto.strong_rand_bytes() |> Base.encode16(case: :lower)
    logs = logs(suffix)
    started_distribution? = not Node.alive?()
    trapped_exits? = Process.flag(:trap_exit, true)

    result =
      try do
        IO.puts("snakepit-shm demo: Elixir and Python share memory managed by a Java node")
        Say.step("0", "Starting the node, distribution and #{@worker_count} Python workers")
        with_node(opts, suffix, logs)
      after
        if started_distribution?, do: Node.stop()
        flush_remote_exits()
        Process.flag(:trap_exit, trapped_exits?)
      end

    report_logs(logs, result)
    result
  end

  @spec with_node(opts(), String.t(), logs()) :: :ok | {:error, String.t()}
  defp with_node(opts, suffix, logs) do
    shm_dir = opts[:shm_dir]

    node_opts =
      Enum.reject(
        [
          name: "snkdemo_#{suffix}",
          shm_dir: shm_dir,
          launcher: opts[:launcher],
          stderr_path: logs.node
        ],
        &is_nil(elem(&1, 1))
      )

    {started, start_us} = timed(fn -> NodeProcess.start(node_opts) end)

    case started do
      {:ok, node_process} ->
        line(
          "node #{node_process.node} ready in #{duration(start_us)} " <>
            "(OS pid #{node_process.os_pid}, shm dir #{shm_dir || @default_shm_dir})"
        )

        result = guarded(fn -> connected(node_process, opts, suffix, logs) end)
        finish(node_process, shm_dir || @default_shm_dir, result)

      {:error, error} ->
        {:error, "could not start the node: #{error.message}"}
    end
  end

  @spec connected(NodeProcess.t(), opts(), String.t(), logs()) ::
          {:ok, term()} | {:error, String.t()}
  defp connected(node_process, opts, suffix, logs) do
    with :ok <- connect(node_process, suffix),
         {:ok, config} <- Say.expect(SnakepitShm.config(node_process.node), "config") do
      with_workers(logs.workers, fn workers, worker_pids ->
        Story.run(%{
          server: node_process.node,
          count: Keyword.get(opts, :count, @default_count),
          pairs: Keyword.get(opts, :pairs, @default_pairs),
          workers: workers,
          worker_pids: worker_pids,
          grace_ms: config.grace_ms,
          worker_log: logs.workers
        })
      end)
    end
  end

  @spec connect(NodeProcess.t(), String.t()) :: :ok | {:error, String.t()}
  defp connect(%{node: node, cookie: cookie}, suffix) do
    start_as = {:"snkdemo_elixir_#{suffix}", :shortnames}

    case SnakepitShm.connect(node, cookie: cookie, start_distribution: start_as) do
      :ok ->
        line(
          "this BEAM is #{Node.self()}; connected to the hidden node #{node} " <>
            "(Node.list(:hidden) = #{inspect(Node.list(:hidden))})"
        )

        :ok

      {:error, error} ->
        {:error, "could not connect to #{node}: #{error.message} (#{error.remediation})"}
    end
  end

  @spec with_workers(Path.t(), ([PythonWorker.t()], [pos_integer()] -> result)) ::
          result | {:error, String.t()}
        when result: term()
  defp with_workers(log_path, fun) do
    start = fn _ -> PythonWorker.start(stderr_path: log_path) end
    {results, start_us} = timed(fn -> Enum.map(1..@worker_count, start) end)
    workers = for {:ok, worker} <- results, do: worker

    try do
      case Enum.find(results, &match?({:error, _}, &1)) do
        nil ->
          pids = Enum.map(workers, &python_pid/1)

          line(
            "#{@worker_count} Python workers ready in #{duration(start_us)} " <>
              "(pids #{Enum.join(pids, ", ")})"
          )

          fun.(workers, pids)

        {:error, error} ->
          {:error, "could not start a Python worker: #{error.message}"}
      end
    after
      Enum.each(workers, &PythonWorker.stop/1)
    end
  end

  # The pid Python reports for itself (its `ping` reply); the Port's OS pid otherwise.
  @spec python_pid(PythonWorker.t()) :: pos_integer()
  defp python_pid(worker) do
    with {:ok, %{"pid" => text}} <- PythonWorker.request(worker, %{op: "ping"}),
         {pid, ""} <- Integer.parse(text) do
      pid
    else
      _ -> worker.os_pid
    end
  end

  # (k) -------------------------------------------------------------------------------

  @spec finish(NodeProcess.t(), Path.t(), {:ok, term()} | {:error, String.t()}) ::
          :ok | {:error, String.t()}
  defp finish(node_process, shm_dir, result) do
    Say.step("k", "Stopping everything")
    line("Python workers stopped (their ports are closed)")
    {stopped, stop_us} = timed(fn -> NodeProcess.stop(node_process) end)
    node_name = Atom.to_string(node_process.node)
    entries = Segments.list(shm_dir)
    left = Enum.filter(entries, &(&1.node == node_name))
    others = entries -- left

    case stopped do
      :ok -> line("node port closed: the node saw stdin EOF and exited in #{duration(stop_us)}")
      {:error, error} -> line("stopping the node failed: #{error.message}")
    end

    line("segments of #{node_name} left in #{shm_dir}: " <> describe_entries(left))

    if others != [],
      do: line("(#{length(others)} snk* segment(s) of other nodes are there, not ours)")

    cond do
      match?({:error, _}, result) ->
        result

      match?({:error, _}, stopped) ->
        {:error, "the node did not stop cleanly"}

      left != [] ->
        {:error, "segments were left behind: #{describe_entries(left)}"}

      true ->
        IO.puts("\nDemo finished: every check passed.")
        :ok
    end
  end

  @spec describe_entries([Segments.entry()]) :: String.t()
  defp describe_entries([]), do: "none"
  defp describe_entries(entries), do: Enum.map_join(entries, ", ", & &1.path)

  # ------------------------------------------------------------------------------------

  @spec logs(String.t()) :: logs()
  defp logs(suffix) do
    %{
      node: Path.join(System.tmp_dir!(), "snkdemo-#{suffix}-node.log"),
      workers: Path.join(System.tmp_dir!(), "snkdemo-#{suffix}-workers.log")
    }
  end

  # Logs are kept (and shown) only when the demo failed.
  @spec report_logs(logs(), :ok | {:error, String.t()}) :: :ok
  defp report_logs(logs, result) do
    Enum.each(logs, fn {what, path} ->
      case {result, File.read(path)} do
        {{:error, _}, {:ok, text}} when text != "" ->
          IO.puts(:stderr, "\n--- #{what} log (#{path}), last lines ---")

          text
          |> String.split("\n", trim: true)
          |> Enum.take(-@log_lines_shown)
          |> Enum.each(&IO.puts(:stderr, &1))

        _ ->
          _ = File.rm(path)
      end
    end)
  end

  # Exit signals trapped during the demo: the node's links (normal, or :noconnection)
  # and the closed ports of the workers.
  @spec flush_remote_exits() :: :ok
  defp flush_remote_exits do
    receive do
      {:EXIT, port, _reason} when is_port(port) -> flush_remote_exits()
      {:EXIT, pid, _reason} when is_pid(pid) and node(pid) != node() -> flush_remote_exits()
    after
      0 -> :ok
    end
  end

  @spec guarded((() -> {:ok, term()} | {:error, String.t()})) ::
          {:ok, term()} | {:error, String.t()}
  defp guarded(fun) do
    fun.()
  rescue
    exception -> {:error, Exception.format(:error, exception, __STACKTRACE__)}
  catch
    kind, reason -> {:error, Exception.format(kind, reason, __STACKTRACE__)}
  end
end
