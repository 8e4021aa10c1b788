# One Python worker slot of a soak client: a process owning a Port to
# `python3 -u soak_worker.py --tag TAG` (test/src/test/python). The harness kills these
# Python processes with SIGKILL at random; the slot notices (exit status), answers the
# request in flight with {:error, :worker_died} and starts a new worker (new OS pid).
Code.require_file("soak_support.exs", __DIR__)

defmodule Soak.Python do
  @moduledoc """
  Requests name the worker OS pid they expect (the holder the caller acquired the region
  for): a request for a replaced worker gets `{:error, :worker_replaced}` instead of being
  served by a process that does not hold the region.
  """

  @reply_timeout_ms 30_000
  @start_attempts 20

  @type ctx :: %{python: String.t(), script: String.t(), python_path: String.t(),
                 tag: String.t(), client: non_neg_integer()}

  @doc "Starts slot `slot` (linked to the caller) and its first worker."
  @spec start_link(non_neg_integer(), ctx()) :: pid()
  def start_link(slot, ctx) do
    parent = self()

    pid =
      spawn_link(fn ->
        # A write to a worker that just died closes the port with an exit signal (:epipe):
        # trapped, it is one more way to learn that the worker died.
        Process.flag(:trap_exit, true)
        Process.register(self(), name(slot))
        state = %{slot: slot, ctx: ctx, parent: parent, port: nil, os_pid: nil}
        state = start_worker(state, @start_attempts)
        send(parent, {:python_started, slot})
        loop(state)
      end)

    receive do
      {:python_started, ^slot} -> pid
    after
      30_000 -> E2E.fail!("python worker slot #{slot} did not start within 30 s")
    end
  end

  @doc "The OS pid of the slot's current worker."
  @spec whois(non_neg_integer()) :: {:ok, pos_integer()} | :unavailable
  def whois(slot) do
    case ask(slot, :whois, 5_000) do
      {:ok, os_pid} -> {:ok, os_pid}
      _ -> :unavailable
    end
  end

  @doc "Sends one JSON request line to worker `os_pid` of `slot`; returns its reply line."
  @spec request(non_neg_integer(), pos_integer(), iodata()) ::
          {:ok, String.t()} | {:error, :worker_died | :worker_replaced | :no_reply}
  def request(slot, os_pid, json) do
    ask(slot, {:req, os_pid, json}, @reply_timeout_ms + 5_000)
  end

  @doc "Asks the slot's worker to exit and ends the slot."
  @spec stop(non_neg_integer()) :: :ok | {:error, :no_reply}
  def stop(slot), do: ask(slot, :stop, 10_000)

  defp ask(slot, message, timeout_ms) do
    ref = make_ref()

    case Process.whereis(name(slot)) do
      nil ->
        {:error, :no_reply}

      pid ->
        send(pid, {message, self(), ref})

        receive do
          {^ref, reply} -> reply
        after
          timeout_ms -> {:error, :no_reply}
        end
    end
  end

  defp name(slot), do: :"soak_python_#{slot}"

  defp loop(state) do
    port = state.port
    parent = state.parent

    receive do
      {:whois, from, ref} ->
        send(from, {ref, {:ok, state.os_pid}})
        loop(state)

      {{:req, os_pid, json}, from, ref} when os_pid == state.os_pid ->
        serve(state, json, from, ref)

      {{:req, _other, _json}, from, ref} ->
        send(from, {ref, {:error, :worker_replaced}})
        loop(state)

      {^port, {:exit_status, status}} ->
        loop(replace(state, status))

      {:EXIT, ^port, reason} ->
        loop(replace(state, reason))

      {:EXIT, ^parent, reason} ->
        stop_worker(state)
        exit(reason)

      {:EXIT, _earlier_port, _reason} ->
        loop(state)

      {_earlier_port, {:exit_status, _status}} ->
        loop(state)

      {^port, {:data, data}} ->
        IO.puts(:stderr, "soak python slot #{state.slot}: unexpected output #{inspect(data)}")
        loop(state)

      {:stop, from, ref} ->
        stop_worker(state)
        send(from, {ref, :ok})
    end
  end

  defp serve(state, json, from, ref) do
    port = state.port

    if command(port, [json, ?\n]) do
      receive do
        {^port, {:data, {:eol, line}}} ->
          send(from, {ref, {:ok, line}})
          loop(state)

        {^port, {:exit_status, status}} ->
          send(from, {ref, {:error, :worker_died}})
          loop(replace(state, status))

        {:EXIT, ^port, reason} ->
          send(from, {ref, {:error, :worker_died}})
          loop(replace(state, reason))
      after
        @reply_timeout_ms ->
          Soak.Report.violation(:python_timeout, %{client: state.ctx.client},
            "python worker #{state.os_pid} (slot #{state.slot}) gave no reply within " <>
              "#{@reply_timeout_ms} ms; killing it")
          System.cmd("kill", ["-9", Integer.to_string(state.os_pid)])
          send(from, {ref, {:error, :worker_died}})
          loop(replace(await_exit(state), :timeout))
      end
    else
      send(from, {ref, {:error, :worker_died}})
      loop(replace(await_exit(state), :closed))
    end
  end

  defp command(port, data) do
    Port.command(port, data)
  rescue
    ArgumentError -> false
  end

  defp close(port) do
    Port.close(port)
  rescue
    ArgumentError -> :ok
  end

  defp await_exit(state) do
    port = state.port

    receive do
      {^port, {:exit_status, _}} -> state
      {:EXIT, ^port, _reason} -> state
    after
      5_000 -> state
    end
  end

  defp replace(state, status) do
    Soak.Stats.bump(:python_worker_restarts)
    IO.puts(:stderr, "soak python slot #{state.slot}: worker #{state.os_pid} ended " <>
                       "(#{inspect(status)}); starting another")
    start_worker(state, @start_attempts)
  end

  # A worker killed while it starts is simply started again.
  defp start_worker(state, 0), do: E2E.fail!("python slot #{state.slot}: worker keeps dying at start")

  defp start_worker(state, attempts) do
    ctx = state.ctx

    port =
      Port.open({:spawn_executable, ctx.python}, [
        :binary, :exit_status, :use_stdio, :hide, {:line, 65_536},
        args: ["-u", ctx.script, "--tag", ctx.tag],
        env: [{~c"PYTHONPATH", String.to_charlist(ctx.python_path)}]
      ])

    command(port, ~s({"op":"ping"}\n))

    receive do
      {^port, {:data, {:eol, "ok pid=" <> os_pid}}} ->
        %{state | port: port, os_pid: String.to_integer(os_pid)}

      {^port, {:exit_status, _}} ->
        start_worker(state, attempts - 1)

      {:EXIT, ^port, _reason} ->
        start_worker(state, attempts - 1)
    after
      20_000 -> E2E.fail!("python slot #{state.slot}: no ping reply within 20 s")
    end
  end

  defp stop_worker(state) do
    port = state.port

    if command(port, ~s({"op":"exit"}\n)) do
      receive do
        {^port, {:exit_status, _}} -> :ok
        {:EXIT, ^port, _reason} -> :ok
      after
        5_000 -> close(port)
      end
    end

    :ok
  end
end
