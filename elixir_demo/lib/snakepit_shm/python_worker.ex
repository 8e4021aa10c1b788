defmodule SnakepitShm.PythonWorker do
  @moduledoc """
  A Python worker (`python3 -u -m snakepit_shm.worker` from `python_demo`) run as a Port.

  The worker reads one JSON request per line on stdin and answers one line on stdout:
  `ok key=value ...` or `error <code> <message...>` (see `SnakepitShm.WorkerReply`).
  Region descriptors are passed as JSON objects; the worker maps the segment itself
  (zero-copy), so only the descriptor crosses the pipe, never the payload.

  Requests: `%{op: "ping"}`, `%{op: "sha256", region: desc}`, `%{op: "scale", input:
  desc, output: desc, factor: f}`, `%{op: "fill", region: desc, byte: b}`,
  `%{op: "attach_time", region: desc}`, `%{op: "hold", region: desc}`, `%{op: "exit"}`.

  The Port belongs to the process that called `start/1`: only that process may call
  `request/3` and `stop/2`. After a `:timeout` the reply may still come later and be
  taken for the answer to the next request, so stop a worker that timed out.
  """

  alias SnakepitShm.{Error, JSON, OsProcess, Paths, PythonPort, WorkerReply}

  @typedoc "A running worker."
  @type t :: %{port: port(), os_pid: pos_integer()}

  @typedoc "A reply: the `ok` fields, or an error map."
  @type reply :: {:ok, WorkerReply.fields()} | {:error, map()}

  @default_timeout_ms 10_000
  @max_line_bytes 65_536

  @doc """
  Starts a worker and checks it answers `ping`.

  Options: `:python` (default `python3` on `PATH`), `:python_path` (default
  `<repo>/python_demo`), `:stderr_path` (append the worker's stderr to this file;
  default: inherited), `:start_timeout_ms` (default 10000).
  """
  @spec start(keyword()) :: {:ok, t()} | {:error, Error.t()}
  def start(opts \\ []) do
    with {:ok, python} <- PythonPort.find_python(opts[:python]) do
      python_path = opts[:python_path] || Paths.python_demo()

      port = open_port(python, python_path, opts[:stderr_path])

      {:os_pid, os_pid} = Port.info(port, :os_pid)
      worker = %{port: port, os_pid: os_pid}

      case request(worker, %{op: "ping"}, opts[:start_timeout_ms] || @default_timeout_ms) do
        {:ok, _fields} ->
          {:ok, worker}

        {:error, error} ->
          stop(worker)

          Error.new(
            :platform_error,
            "the Python worker (#{python} -u -m snakepit_shm.worker, PYTHONPATH=" <>
              "#{python_path}) did not answer ping: #{error.message}",
            "run `PYTHONPATH=#{python_path} #{python} -m snakepit_shm.worker` by hand " <>
              "and type {\"op\":\"ping\"}",
            %{cause: error}
          )
      end
    end
  end

  @doc """
  Sends `request` (a map, encoded as one JSON line) and waits for the reply line.

  Lines that are not replies (neither `ok ...` nor `error ...`) are skipped. Returns
  `{:ok, fields}`, the worker's `{:error, %{code: ..., message: ...}}`, or an error of
  code `:timeout` or `:platform_error` (the worker exited).
  """
  @spec request(t(), map(), non_neg_integer()) :: reply()
  def request(%{port: port} = worker, request, timeout_ms \\ @default_timeout_ms)
      when is_map(request) do
    line = [JSON.encode_iodata(request), ?\n]
    deadline = System.monotonic_time(:millisecond) + timeout_ms

    try do
      Port.command(port, line)
    rescue
      ArgumentError -> worker_gone(worker, :closed)
    else
      true -> await_reply(worker, request, deadline)
    end
  end

  @doc "The worker's OS pid, read from the Port (`nil` once the Port is closed)."
  @spec os_pid(t()) :: pos_integer() | nil
  def os_pid(%{port: port}) do
    case Port.info(port, :os_pid) do
      {:os_pid, os_pid} -> os_pid
      nil -> nil
    end
  end

  @doc """
  Stops the worker: sends `{"op":"exit"}` and waits up to `timeout_ms` for it to exit;
  closes the Port and kills the OS process if it does not. Safe on a worker that has
  exited already. Leaves no message of the Port in the caller's mailbox.
  """
  @spec stop(t(), non_neg_integer()) :: :ok
  def stop(%{port: port, os_pid: os_pid}, timeout_ms \\ 5_000) do
    exited? =
      Port.info(port) != nil and
        try do
          Port.command(port, [JSON.encode_iodata(%{op: "exit"}), ?\n])
          await_exit(port, System.monotonic_time(:millisecond) + timeout_ms)
        rescue
          ArgumentError -> false
        end

    unless exited? do
      if Port.info(port) != nil, do: Port.close(port)
      _ = OsProcess.ensure_exited(os_pid, 1_000)
    end

    flush_port_messages(port)
  end

  @spec open_port(Path.t(), Path.t(), Path.t() | nil) :: port()
  defp open_port(python, python_path, stderr_path) do
    PythonPort.open(python, PythonPort.worker_args(nil),
      python_path: python_path,
      stderr_path: stderr_path,
      max_line_bytes: @max_line_bytes
    )
  end

  @spec await_reply(t(), map(), integer()) :: reply()
  defp await_reply(worker, request, deadline) do
    case PythonPort.await_reply(worker.port, deadline, &WorkerReply.parse/1) do
      {:reply, reply} ->
        reply

      {:exit_status, status} ->
        worker_gone(worker, {:exit_status, status})

      :timeout ->
        Error.new(
          :timeout,
          "the Python worker (OS pid #{worker.os_pid}) did not answer " <>
            "#{inspect(request[:op] || request["op"])} in time",
          "stop this worker (SnakepitShm.PythonWorker.stop/1) and start a new one",
          %{os_pid: worker.os_pid}
        )
    end
  end

  @spec await_exit(port(), integer()) :: boolean()
  defp await_exit(port, deadline) do
    remaining_ms = max(deadline - System.monotonic_time(:millisecond), 0)

    receive do
      {^port, {:data, _}} -> await_exit(port, deadline)
      {^port, {:exit_status, _status}} -> true
    after
      remaining_ms -> false
    end
  end

  @spec flush_port_messages(port()) :: :ok
  defp flush_port_messages(port) do
    receive do
      {^port, _message} -> flush_port_messages(port)
    after
      0 -> :ok
    end
  end

  @spec worker_gone(t(), term()) :: {:error, Error.t()}
  defp worker_gone(worker, why) do
    Error.new(
      :platform_error,
      "the Python worker (OS pid #{worker.os_pid}) is gone: #{inspect(why)}",
      "start a new worker; its stderr (inherited) tells why it ended",
      %{os_pid: worker.os_pid}
    )
  end
end
