defmodule SnakepitShm.PythonPort do
  @moduledoc false
  # Starting `python3 -u -m snakepit_shm.worker` as a Port: what SnakepitShm.PythonWorker
  # and SnakepitShm.Snakepit.Worker share.

  alias SnakepitShm.Error

  @worker_args ["-u", "-m", "snakepit_shm.worker"]

  @doc "The worker's arguments: the process worker (`nil`) or `--threads n`."
  @spec worker_args(pos_integer() | nil) :: [String.t()]
  def worker_args(nil), do: @worker_args
  def worker_args(threads), do: @worker_args ++ ["--threads", Integer.to_string(threads)]

  @doc "`python` when given, else `python3` on `PATH`."
  @spec find_python(Path.t() | nil) :: {:ok, Path.t()} | {:error, Error.t()}
  def find_python(nil) do
    case System.find_executable("python3") do
      nil ->
        Error.new(
          :not_found,
          "python3 is not on PATH",
          "install Python 3 with numpy, or pass python: \"/path/to/python3\""
        )

      python ->
        {:ok, python}
    end
  end

  def find_python(python), do: {:ok, python}

  @doc """
  Opens the Port: `python args` with `PYTHONPATH` and `env` (`[{name, value}]`
  strings), its stdout in lines of at most `max_line_bytes`, its stderr appended to
  `stderr_path` (`nil`: inherited).
  """
  @spec open(Path.t(), [String.t()], keyword()) :: port()
  def open(python, args, opts) do
    env =
      [{"PYTHONPATH", Keyword.fetch!(opts, :python_path)} | Keyword.get(opts, :env, [])]
      |> Enum.map(fn {k, v} -> {String.to_charlist(k), String.to_charlist(v)} end)

    {executable, args, env} =
      case Keyword.get(opts, :stderr_path) do
        nil ->
          {python, args, env}

        # `exec` keeps the OS pid: the worker's pid is the Port's.
        path ->
          script = ~S(exec "$0" "$@" 2>>"$SNAKEPIT_SHM_STDERR_PATH")

          {"/bin/sh", ["-c", script, python | args],
           [{~c"SNAKEPIT_SHM_STDERR_PATH", String.to_charlist(path)} | env]}
      end

    Port.open({:spawn_executable, executable}, [
      :binary,
      :exit_status,
      :use_stdio,
      {:line, Keyword.fetch!(opts, :max_line_bytes)},
      {:args, args},
      {:env, env}
    ])
  end

  @doc """
  Reads the Port's lines until `parse.(line)` is a reply (anything but
  `:not_a_reply`): `{:reply, reply}`, or `{:exit_status, status}` when Python exited,
  or `:timeout` at `deadline` (monotonic ms). Call it from the Port's owner.
  """
  @spec await_reply(port(), integer(), (String.t() -> :not_a_reply | reply)) ::
          {:reply, reply} | {:exit_status, integer()} | :timeout
        when reply: term()
  def await_reply(port, deadline, parse), do: await_reply(port, deadline, parse, "")

  defp await_reply(port, deadline, parse, partial) do
    remaining_ms = max(deadline - System.monotonic_time(:millisecond), 0)

    receive do
      {^port, {:data, {:noeol, chunk}}} ->
        await_reply(port, deadline, parse, partial <> chunk)

      {^port, {:data, {:eol, chunk}}} ->
        case parse.(partial <> chunk) do
          :not_a_reply -> await_reply(port, deadline, parse, "")
          reply -> {:reply, reply}
        end

      {^port, {:exit_status, status}} ->
        {:exit_status, status}
    after
      remaining_ms -> :timeout
    end
  end
end
