# What the telemetry spans cost a client call (not a test; prints figures).
#
#     cd elixir_demo && mix run bench/telemetry_overhead.exs [--calls N]
#
# Starts its own node (shm dir /dev/shm/snkbench-<random>, removed at the end) and
# times, interleaved in rounds so that drift hits every variant alike:
#
#   * "before": `SnakepitShm.Call.call/3` with the request `SnakepitShm.info/3` sends —
#     the client's path without instrumentation (what info/3 did before spans existed);
#   * "after, no handler": `SnakepitShm.info/3` (start and stop events, nobody attached);
#   * "after, 1 handler": the same with a no-op handler on start and stop;
#
# the same for the local payload read (`SnakepitShm.Payload.read/3` vs
# `SnakepitShm.read/3`), and `SnakepitShm.Telemetry.execute/3` on its own.

alias SnakepitShm.{Call, Latency, NodeProcess, Payload, Telemetry}

{opts, _, _} = OptionParser.parse(System.argv(), strict: [calls: :integer])
calls = Keyword.get(opts, :calls, 20_000)
rounds = 10
per_round = max(div(calls, rounds), 1)

suffix = Base.encode16(:crypto.strong_rand_bytes(5), case: :lower)
shm_dir = "/dev/shm/snkbench-#{suffix}"
File.mkdir!(shm_dir)
File.chmod!(shm_dir, 0o700)

defmodule Bench do
  @moduledoc false
  def noop(_event, _measurements, _metadata, _config), do: :ok

  def line(name, %{p50_us: p50, p99_us: p99, mean_us: mean}) do
    IO.puts(
      String.pad_trailing(name, 44) <>
        "p50 #{pad(p50)} us   p99 #{pad(p99)} us   mean #{pad(Float.round(mean, 2))} us"
    )
  end

  defp pad(value), do: value |> to_string() |> String.pad_leading(7)

  # ns per Telemetry.execute/3 call, over `n` calls (a compiled loop: the script's own
  # closures are interpreted).
  def execute_ns(n, event, measurements, metadata) do
    {us, :ok} = :timer.tc(fn -> execute_loop(n, event, measurements, metadata) end)
    us * 1000 / n
  end

  defp execute_loop(0, _event, _measurements, _metadata), do: :ok

  defp execute_loop(n, event, measurements, metadata) do
    SnakepitShm.Telemetry.execute(event, measurements, metadata)
    execute_loop(n - 1, event, measurements, metadata)
  end
end

{:ok, node_process} =
  NodeProcess.start(name: "snkbench_#{suffix}", shm_dir: shm_dir, stderr_path: "/dev/null")

try do
  server = node_process.node

  :ok =
    SnakepitShm.connect(server,
      cookie: node_process.cookie,
      start_distribution: {:"snkbench_elixir_#{suffix}", :shortnames}
    )

  {:ok, region} = SnakepitShm.allocate(server, 4096)
  id = region.id
  ok = fn {:ok, _} -> :ok end

  variants = [
    {"info: before (Call.call, no spans)", fn -> ok.(Call.call(server, {:info, id}, 5000)) end},
    {"info: after, no handler", fn -> ok.(SnakepitShm.info(server, id)) end},
    {"info: after, 1 no-op handler", fn -> ok.(SnakepitShm.info(server, id)) end},
    {"read 64 B: before (Payload.read)", fn -> ok.(Payload.read(region, 0, 64)) end},
    {"read 64 B: after, no handler", fn -> ok.(SnakepitShm.read(region, 0, 64)) end},
    {"read 64 B: after, 1 no-op handler", fn -> ok.(SnakepitShm.read(region, 0, 64)) end}
  ]

  handler_events = [
    [:snakepit, :shm, :info, :start],
    [:snakepit, :shm, :info, :stop],
    [:snakepit, :shm, :read, :start],
    [:snakepit, :shm, :read, :stop]
  ]

  with_handler = fn name, fun ->
    if String.contains?(name, "1 no-op handler") do
      :ok = Telemetry.attach_many(:bench, handler_events, &Bench.noop/4, nil)

      try do
        fun.()
      after
        Telemetry.detach(:bench)
      end
    else
      fun.()
    end
  end

  # Warm-up, then the rounds.
  for {_name, fun} <- variants, do: {:ok, _} = Latency.sample(500, fun)

  samples =
    Enum.reduce(1..rounds, %{}, fn _round, acc ->
      Enum.reduce(variants, acc, fn {name, fun}, acc ->
        {:ok, round_samples} = with_handler.(name, fn -> Latency.sample(per_round, fun) end)
        Map.update(acc, name, round_samples, &(round_samples ++ &1))
      end)
    end)

  IO.puts(
    "telemetry overhead: #{per_round * rounds} calls per variant in #{rounds} interleaved " <>
      "rounds; backend #{Telemetry.backend()}; node #{server}\n"
  )

  for {name, _fun} <- variants, do: Bench.line(name, Latency.summarize(samples[name]))

  event = [:snakepit, :shm, :bench, :stop]
  measurements = %{duration: 1}
  metadata = %{call: :bench}
  n = 200_000
  no_handler_ns = Bench.execute_ns(n, event, measurements, metadata)
  :ok = Telemetry.attach(:bench_execute, event, &Bench.noop/4, nil)
  one_handler_ns = Bench.execute_ns(n, event, measurements, metadata)
  :ok = Telemetry.detach(:bench_execute)

  IO.puts(
    "\nTelemetry.execute/3: #{Float.round(no_handler_ns, 1)} ns with no handler, " <>
      "#{Float.round(one_handler_ns, 1)} ns with one no-op handler (#{n} calls each)"
  )

  :ok = SnakepitShm.release(server, id)
after
  :ok = NodeProcess.stop(node_process)
  File.rm_rf!(shm_dir)
end
