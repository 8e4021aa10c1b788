# A soak client BEAM (SoakIT): LANES load lanes (soak_lane.exs) and WORKERS Python
# worker slots (soak_python.exs) run against the manager until a line (or EOF) arrives
# on stdin. The harness kills things meanwhile: Python workers, the manager (then
# restarts it under the same name: lanes reconnect), or this whole BEAM.
#
# Prints BEAM_OS_PID, SEED, CLIENT, then STARTED=1 once its workers and lanes run, one
# `STATS ...` line per second, a `VIOLATION ...` line per invariant violation, and at the
# end a last STATS line and DONE=1 (exit status 0).
#
#   elixir ... soak_client.exs NODE CLIENT SEED LANES WORKERS PYTHON SCRIPT PYTHONPATH TAG
Code.require_file("soak_lane.exs", __DIR__)

defmodule Soak.Client do
  @moduledoc "The client's main process: starts, watches and stops lanes and worker slots."

  @report_interval_ms 1_000
  @stop_timeout_ms 20_000

  @spec main() :: :ok
  def main do
    {node, [client, seed, lanes, workers, python, script, python_path, tag]} = E2E.args()
    client = String.to_integer(client)
    seed = String.to_integer(seed)

    ctx = %{node: node, client: client, seed: seed, workers: String.to_integer(workers)}
    py = %{python: python, script: script, python_path: python_path, tag: tag, client: client}

    E2E.emit("BEAM_OS_PID", System.pid())
    E2E.emit("SEED", seed)
    E2E.emit("CLIENT", client)
    Process.flag(:trap_exit, true)
    Soak.Stats.init()
    :ets.new(:soak_regions, [:public, :named_table, :set, write_concurrency: true])

    slots = Map.new(0..(ctx.workers - 1), fn slot -> {Soak.Python.start_link(slot, py), slot} end)

    case Soak.Manager.await_up(node, 30_000) do
      {:ok, _inc} -> :ok
      other -> E2E.fail!("manager #{node} unreachable: #{inspect(other)}")
    end

    lanes = Map.new(0..(String.to_integer(lanes) - 1), fn lane -> {Soak.Lane.start_link(ctx, lane, 0), {lane, 0}} end)
    main = self()
    spawn_link(fn -> send(main, {:stdin, IO.gets("")}) end)
    :timer.send_interval(@report_interval_ms, :report)
    E2E.emit("STARTED", 1)

    loop(%{ctx: ctx, py: py, lanes: lanes, slots: slots})
  end

  defp loop(st) do
    receive do
      :report ->
        IO.puts(Soak.Stats.line())
        loop(st)

      {:stdin, _line_or_eof} ->
        shutdown(st)

      {:EXIT, pid, reason} ->
        loop(exited(st, pid, reason))
    end
  end

  defp exited(st, pid, reason) do
    cond do
      Map.has_key?(st.lanes, pid) ->
        {{lane, restarts}, lanes} = Map.pop(st.lanes, pid)
        lost = forget_lane(lane)

        if reason == :noconnection do
          # Linked to the manager through its holdings: the manager was killed.
          Soak.Stats.bump(:lost_node_kill, lost)
          Soak.Stats.bump(:lane_restarts_node)
        else
          Soak.Report.violation(:lane_crash, %{client: st.ctx.client, lane: lane},
            "lane exited #{inspect(reason, limit: 30)}; #{lost} region(s) dropped")
        end

        new = Soak.Lane.start_link(st.ctx, lane, restarts + 1)
        %{st | lanes: Map.put(lanes, new, {lane, restarts + 1})}

      Map.has_key?(st.slots, pid) ->
        Soak.Report.violation(:python_slot_crash, %{client: st.ctx.client},
          "python slot #{st.slots[pid]} exited #{inspect(reason, limit: 30)}")
        {slot, slots} = Map.pop(st.slots, pid)
        %{st | slots: Map.put(slots, Soak.Python.start_link(slot, st.py), slot)}

      true ->
        st
    end
  end

  defp forget_lane(lane) do
    :ets.select_delete(:soak_regions, [{{{lane, :_}, :_}, [], [true]}])
  end

  defp shutdown(st) do
    Enum.each(Map.keys(st.lanes), &send(&1, :stop))
    deadline_ms = System.monotonic_time(:millisecond) + @stop_timeout_ms
    await_lanes(st.lanes, deadline_ms, st)
    Enum.each(Map.values(st.slots), &Soak.Python.stop/1)
    IO.puts(Soak.Stats.line())
    E2E.emit("DONE", 1)
  end

  defp await_lanes(lanes, _deadline_ms, _st) when map_size(lanes) == 0, do: :ok

  defp await_lanes(lanes, deadline_ms, st) do
    left_ms = max(0, deadline_ms - System.monotonic_time(:millisecond))

    receive do
      {:EXIT, pid, reason} when is_map_key(lanes, pid) ->
        {{lane, _}, lanes} = Map.pop(lanes, pid)

        if reason not in [:normal, :noconnection] do
          Soak.Report.violation(:lane_crash, %{client: st.ctx.client, lane: lane},
            "lane exited #{inspect(reason, limit: 30)} while stopping")
        end

        await_lanes(lanes, deadline_ms, st)
    after
      left_ms ->
        Soak.Report.violation(:lane_stop_timeout, %{client: st.ctx.client},
          "#{map_size(lanes)} lane(s) still running #{@stop_timeout_ms} ms after :stop")
    end
  end
end

Soak.Client.main()
