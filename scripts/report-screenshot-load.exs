# Varied load for the report screenshot (scripts/report-screenshot.sh), with raw
# GenServer calls (docs/PROTOCOL.md), so it needs nothing but Elixir:
#
#   elixir --sname NAME --cookie COOKIE scripts/report-screenshot-load.exs NODE SECONDS
#
# For SECONDS it drives three tenants: "acme" (1-6 MiB regions in three sessions, each
# held by its own process, growing to about 130 MiB), "globex" (batches of small regions,
# released at random so the pool fragments) and "initech" (256-900 KiB regions); a reader
# acquires acme's regions with their tokens; short-lived processes allocate and exit (the
# node cleans up after them); a bad actor acquires with wrong tokens and without its
# tenant. Halfway through it lowers alert_capacity_percent so acme's tenant limit raises an
# alert. Then it prints LOADED and keeps every region held until stdin closes.
import Bitwise

defmodule ReportLoad do
  @mib 1 <<< 20

  def main([node, seconds]) do
    server = {:snakepit_shm, String.to_atom(node)}
    duration_ms = String.to_integer(seconds) * 1000
    :rand.seed(:exsss, {17, 42, 7})

    workers = %{
      acme: for(n <- 1..3, do: {holder(), "acme-train-#{n}"}),
      globex: holder(),
      initech: [{holder(), "initech-web-1"}, {holder(), "initech-web-2"}],
      reader: holder()
    }

    start = now()
    state = %{server: server, workers: workers, held: %{}, read: [], next_transient: 0, alert_lowered: false,
      next_bad: 2_000, next_print: 5_000}
    state = loop(state, start, duration_ms)
    IO.puts("LOADED #{summary(state)}")
    # keep every holder alive (and its regions held) until the caller closes stdin
    IO.read(:stdio, :eof)
  end

  # ---- the main loop: one tick every 50-200 ms --------------------------------------------

  defp loop(state, start, duration_ms) do
    t = now() - start

    if t >= duration_ms do
      state
    else
      f = t / duration_ms

      state =
        state
        |> acme(f)
        |> globex(f)
        |> initech(f)
        |> reader()
        |> transient(t)
        |> bad_actor(t)
        |> lower_alert_threshold(f)
        |> progress(t)

      # a burst of calls in the middle third
      Process.sleep(if f > 0.35 and f < 0.6, do: 40, else: 150)
      loop(state, start, duration_ms)
    end
  end

  # acme grows to about 130 MiB (81 % of its 160 MiB max_tenant_bytes), then holds there
  defp acme(state, f) do
    target = round(@mib * (20 + 110 * min(1.0, f / 0.5)))
    {pid, session} = Enum.random(state.workers.acme)
    size = Enum.random(1..6) * @mib + Enum.random(0..255) * 1024
    keep_near(state, :acme, pid, target, fn ->
      call(state.server, {:allocate, size, %{tenant: "acme", session: session, label: "weights"}})
    end)
  end

  # globex: batches of small regions, up to about 1200, then half of them released at random
  defp globex(state, f) do
    target = round(if f < 0.7, do: 1200 * f / 0.7, else: 600)
    pid = state.workers.globex
    held = Map.get(state.held, :globex, [])

    cond do
      length(held) < target ->
        sizes = for _ <- 1..40, do: Enum.random([4096, 8192, 16_384, 24_576, 49_152])
        {:ok, descs} = run(pid, fn ->
          call(state.server, {:allocate_many, sizes, %{tenant: "globex", session: "globex-etl", label: "rows"}})
        end)
        put_held(state, :globex, Enum.map(descs, &{pid, &1}) ++ held)

      length(held) > target + 40 ->
        {out, keep} = held |> Enum.shuffle() |> Enum.split(40)
        ids = for {_, d} <- out, do: d.id
        {:ok, _} = run(pid, fn -> call(state.server, {:release_many, ids, %{tenant: "globex"}}) end)
        put_held(state, :globex, keep)

      true ->
        state
    end
  end

  # initech: 20-30 MiB of pooled regions, released at random
  defp initech(state, f) do
    target = round(@mib * (20 + 10 * :math.sin(f * 6.0)))
    {pid, session} = Enum.random(state.workers.initech)
    size = Enum.random(256..900) * 1024
    keep_near(state, :initech, pid, target, fn ->
      call(state.server, {:allocate, size, %{tenant: "initech", session: session}})
    end)
  end

  # the reader acquires one of acme's regions with its token and lets go of it later
  defp reader(state) do
    pid = state.workers.reader
    state =
      case Map.get(state.held, :acme, []) do
        [] -> state
        held ->
          {_, d} = Enum.random(held)
          case run(pid, fn -> call(state.server, {:acquire, d.id, %{token: d.token, tenant: "acme"}}) end) do
            {:ok, _} -> %{state | read: [d | state.read]}
            {:error, _} -> state
          end
      end

    if length(state.read) > 12 do
      {keep, out} = Enum.split(state.read, 8)
      for d <- out, do: run(pid, fn -> call(state.server, {:release, d.id, %{tenant: "acme"}}) end)
      %{state | read: keep}
    else
      state
    end
  end

  # every 3 s a process allocates a few regions and exits without releasing them
  defp transient(%{next_transient: due} = state, t) when t < due, do: state

  defp transient(state, t) do
    server = state.server
    spawn(fn ->
      for _ <- 1..5, do: call(server, {:allocate, 64 * 1024, %{label: "scratch"}})
      Process.sleep(1500)
    end)
    %{state | next_transient: t + 3000}
  end

  # every 4 s: an acquire with a wrong token, and one without the tenant
  defp bad_actor(%{next_bad: due} = state, t) when t < due, do: state

  defp bad_actor(state, t) do
    case Map.get(state.held, :acme, []) do
      [] -> :ok
      held ->
        {_, d} = Enum.random(held)
        {:error, %{code: :forbidden}} = call(state.server, {:acquire, d.id, %{token: String.duplicate("0", 32),
          tenant: "acme"}})
        {:error, %{code: :forbidden}} = call(state.server, {:acquire, d.id, %{token: d.token}})
    end
    %{state | next_bad: t + 4000}
  end

  # halfway: alert at 75 % of a limit instead of 90 %, so acme's 81 % raises capacity.max_tenant_bytes
  defp lower_alert_threshold(%{alert_lowered: false} = state, f) when f >= 0.55 do
    {:ok, _} = call(state.server, {:config, {:set, %{alert_capacity_percent: 75}}})
    IO.puts("alert_capacity_percent lowered to 75")
    %{state | alert_lowered: true}
  end

  defp lower_alert_threshold(state, _f), do: state

  defp progress(%{next_print: due} = state, t) when t < due, do: state

  defp progress(state, t) do
    IO.puts("t=#{div(t, 1000)}s #{summary(state)}")
    %{state | next_print: t + 5000}
  end

  defp summary(state) do
    {:ok, s} = call(state.server, :stats)
    "regions=#{s.regions} holders=#{s.holders} bytes_in_use=#{div(s.bytes_in_use, @mib)}MiB"
  end

  # ---- helpers ------------------------------------------------------------------------------

  # allocates (in pid) while the group holds less than target bytes; releases a random
  # region of the group when it holds more than target plus 8 MiB
  defp keep_near(state, group, pid, target, allocate) do
    held = Map.get(state.held, group, [])
    bytes = Enum.reduce(held, 0, fn {_, d}, acc -> acc + d.size end)

    cond do
      bytes < target ->
        case run(pid, allocate) do
          {:ok, d} -> put_held(state, group, [{pid, d} | held])
          {:error, %{code: code}} ->
            IO.puts("allocate refused: #{code}")
            state
        end

      bytes > target + 8 * @mib ->
        {owner, d} = Enum.random(held)
        :ok = run(owner, fn -> call(state.server, {:release, d.id, %{tenant: d.tenant}}) end)
        put_held(state, group, List.delete(held, {owner, d}))

      true ->
        state
    end
  end

  defp put_held(state, group, list), do: %{state | held: Map.put(state.held, group, list)}

  defp call(server, request), do: GenServer.call(server, request, 30_000)

  defp now, do: System.monotonic_time(:millisecond)

  # A holder: a process that runs functions for the main loop, so that regions get
  # different holders (the caller's pid is the holder).
  defp holder do
    spawn_link(fn -> holder_loop() end)
  end

  defp holder_loop do
    receive do
      {:run, fun, from, ref} ->
        send(from, {ref, fun.()})
        holder_loop()
    end
  end

  defp run(pid, fun) do
    ref = make_ref()
    send(pid, {:run, fun, self(), ref})

    receive do
      {^ref, result} -> result
    after
      30_000 -> raise "holder #{inspect(pid)} did not answer"
    end
  end
end

ReportLoad.main(System.argv())
