defmodule SnakepitShm.OsProcess do
  @moduledoc """
  Checks and ends OS processes by pid: used to make sure processes started as Ports
  (the node, Python workers) are really gone after they were asked to stop.

  On Linux liveness is read from `/proc/PID/stat` (a zombie counts as gone: the BEAM's
  child reaper collects it); elsewhere `kill -0` is asked.
  """

  @typedoc "An OS process id."
  @type os_pid :: pos_integer()

  @poll_interval_ms 20

  @doc "True while the OS process `os_pid` runs (and is not a zombie)."
  @spec alive?(os_pid()) :: boolean()
  def alive?(os_pid) when is_integer(os_pid) and os_pid > 0 do
    case File.read("/proc/#{os_pid}/stat") do
      {:ok, stat} -> not zombie?(stat)
      {:error, :enoent} -> false
      {:error, _} -> kill_zero?(os_pid)
    end
  end

  @doc "Waits up to `timeout_ms` for `os_pid` to end; true when it did."
  @spec wait_exit(os_pid(), non_neg_integer()) :: boolean()
  def wait_exit(os_pid, timeout_ms) do
    deadline = System.monotonic_time(:millisecond) + timeout_ms
    do_wait_exit(os_pid, deadline)
  end

  @doc """
  Sends `signal` (`"TERM"`, `"KILL"`, ...) to `os_pid` with `kill(1)`; `:ok` when sent.
  """
  @spec signal(os_pid(), String.t()) :: :ok | {:error, String.t()}
  def signal(os_pid, signal) when is_integer(os_pid) and os_pid > 0 do
    case System.cmd("kill", ["-#{signal}", Integer.to_string(os_pid)], stderr_to_stdout: true) do
      {_, 0} -> :ok
      {output, _status} -> {:error, String.trim(output)}
    end
  end

  @doc """
  Makes sure `os_pid` has ended: waits `grace_ms`, then sends TERM and waits
  `grace_ms` again, then sends KILL. Returns `:ok` once it is gone, or `:error`.
  """
  @spec ensure_exited(os_pid(), non_neg_integer()) :: :ok | :error
  def ensure_exited(os_pid, grace_ms) do
    cond do
      wait_exit(os_pid, grace_ms) ->
        :ok

      signal(os_pid, "TERM") == :ok and wait_exit(os_pid, grace_ms) ->
        :ok

      true ->
        _ = signal(os_pid, "KILL")
        if wait_exit(os_pid, 2_000), do: :ok, else: :error
    end
  end

  @spec do_wait_exit(os_pid(), integer()) :: boolean()
  defp do_wait_exit(os_pid, deadline) do
    cond do
      not alive?(os_pid) ->
        true

      System.monotonic_time(:millisecond) >= deadline ->
        false

      true ->
        Process.sleep(@poll_interval_ms)
        do_wait_exit(os_pid, deadline)
    end
  end

  # /proc/PID/stat is "pid (comm) state ...": comm may hold spaces and parentheses,
  # so the state is the first field after the last ")".
  @spec zombie?(binary()) :: boolean()
  defp zombie?(stat) do
    case :binary.matches(stat, ")") do
      [] ->
        false

      matches ->
        {position, 1} = List.last(matches)

        stat
        |> binary_part(position + 1, byte_size(stat) - position - 1)
        |> String.trim_leading()
        |> String.starts_with?(["Z", "X"])
    end
  end

  @spec kill_zero?(os_pid()) :: boolean()
  defp kill_zero?(os_pid) do
    match?({_, 0}, System.cmd("kill", ["-0", Integer.to_string(os_pid)], stderr_to_stdout: true))
  end
end
