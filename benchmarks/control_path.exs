# Benchmark a. Control path: allocate+release pairs (two GenServer.calls, 4 KiB regions)
# against the snakepit-shm node and, in the same run, against a pure-Elixir GenServer on
# its own BEAM node doing the same bookkeeping (benchmarks/erlang_baseline.exs).
#
# Run by scripts/bench.sh; alone: elixir benchmarks/control_path.exs --root REPO --out DIR
#   --mode quick|full --run-id RID --cookie-file FILE (epmd must run).
#
# Latency is measured here, client-side, around the two calls, with
# :erlang.monotonic_time(:nanosecond); percentiles are exact (Bench.Stats).
Code.require_file("lib/bench.exs", __DIR__)

defmodule Bench.ControlPath do
  alias Bench.{Baseline, Context, Manager, Stats}

  @region_bytes 4096
  @batch_size 100
  @callers 16
  @call_timeout_ms 10_000

  def run(ctx) do
    params = params(ctx)
    Manager.with_node(ctx, "control", fn manager ->
      baseline = Baseline.start!(ctx)

      try do
        servers = %{node: manager.node, erlang: baseline.node}
        single = single_caller(ctx, servers, params)
        concurrent = concurrent_callers(ctx, servers, params)
        batch = batch(ctx, servers, params)

        Context.write_results!(ctx, %{
          params: params,
          single: single,
          concurrent: concurrent,
          batch: batch
        })
      after
        Baseline.stop(baseline)
      end
    end)
  end

  defp params(ctx) do
    Context.pick(ctx,
      quick: %{region_bytes: @region_bytes, warmup_pairs: 500, rounds: 2, pairs_per_round: 1000,
               callers: @callers, concurrent_warmup_pairs: 20, concurrent_rounds: 1,
               concurrent_pairs_per_caller_round: 100, batch_size: @batch_size,
               batch_warmup: 5, batch_reps: 30},
      full: %{region_bytes: @region_bytes, warmup_pairs: 5000, rounds: 4, pairs_per_round: 5000,
              callers: @callers, concurrent_warmup_pairs: 100, concurrent_rounds: 2,
              concurrent_pairs_per_caller_round: 625, batch_size: @batch_size,
              batch_warmup: 30, batch_reps: 300}
    )
  end

  # --- one caller ----------------------------------------------------------------------

  defp single_caller(ctx, servers, p) do
    Enum.each(servers, fn {_side, node} -> pairs(node, p.warmup_pairs) end)

    # Rounds alternate which side goes first, so drift in machine load hits both.
    samples =
      Enum.reduce(1..p.rounds, %{node: [], erlang: []}, fn round, acc ->
        order = if rem(round, 2) == 1, do: [:node, :erlang], else: [:erlang, :node]

        Enum.reduce(order, acc, fn side, acc2 ->
          Map.update!(acc2, side, &(pairs(servers[side], p.pairs_per_round) ++ &1))
        end)
      end)

    node = Context.record_latencies!(ctx, "control-1caller-node", samples.node)
    erlang = Context.record_latencies!(ctx, "control-1caller-erlang", samples.erlang)
    result = %{node: node, erlang: erlang, ratio_p50: Stats.ratio(node.p50_us, erlang.p50_us),
               ratio_p99: Stats.ratio(node.p99_us, erlang.p99_us)}
    Context.say("control path, 1 caller, #{node.count} pairs: " <> compare(result))
    result
  end

  defp pairs(node, n), do: Bench.Pairs.run(node, n, @region_bytes)

  # --- 16 callers ----------------------------------------------------------------------

  defp concurrent_callers(ctx, servers, p) do
    Enum.each(servers, fn {_side, node} -> run_callers(node, p.callers, p.concurrent_warmup_pairs) end)

    runs =
      Enum.reduce(1..p.concurrent_rounds, %{node: [], erlang: []}, fn round, acc ->
        order = if rem(round, 2) == 1, do: [:node, :erlang], else: [:erlang, :node]

        Enum.reduce(order, acc, fn side, acc2 ->
          run = run_callers(servers[side], p.callers, p.concurrent_pairs_per_caller_round)
          Map.update!(acc2, side, &[run | &1])
        end)
      end)

    sides =
      Map.new(runs, fn {side, side_runs} ->
        samples = Enum.flat_map(side_runs, & &1.samples)
        wall_ns = Enum.sum(Enum.map(side_runs, & &1.wall_ns))
        summary = Context.record_latencies!(ctx, "control-#{p.callers}callers-#{side}", samples)

        {side,
         Map.merge(summary, %{
           throughput_pairs_per_s: Float.round(length(samples) / (wall_ns / 1.0e9), 1),
           wall_s: Float.round(wall_ns / 1.0e9, 3)
         })}
      end)

    result = %{
      callers: p.callers,
      node: sides.node,
      erlang: sides.erlang,
      ratio_p50: Stats.ratio(sides.node.p50_us, sides.erlang.p50_us),
      ratio_p99: Stats.ratio(sides.node.p99_us, sides.erlang.p99_us),
      ratio_throughput:
        Stats.ratio(sides.node.throughput_pairs_per_s, sides.erlang.throughput_pairs_per_s)
    }

    Context.say("control path, #{p.callers} callers, #{sides.node.count} pairs: " <> compare(result) <>
                  " | throughput node #{sides.node.throughput_pairs_per_s}/s erlang " <>
                  "#{sides.erlang.throughput_pairs_per_s}/s ratio #{result.ratio_throughput}")
    result
  end

  # Starts `callers` processes, lets them go at once, collects their samples.
  defp run_callers(node, callers, pairs_each) do
    parent = self()

    pids =
      for _ <- 1..callers do
        spawn_link(fn ->
          receive do
            :go -> :ok
          end

          samples = pairs(node, pairs_each)
          send(parent, {:done, self(), samples, :erlang.monotonic_time(:nanosecond)})
        end)
      end

    t0 = :erlang.monotonic_time(:nanosecond)
    Enum.each(pids, &send(&1, :go))

    results =
      for pid <- pids do
        receive do
          {:done, ^pid, samples, t_end} -> {samples, t_end}
          {:EXIT, ^pid, reason} when reason != :normal -> Context.fail!("a caller died: #{inspect(reason)}")
        after
          120_000 -> Context.fail!("a caller did not finish in 120 s")
        end
      end

    %{samples: Enum.flat_map(results, &elem(&1, 0)),
      wall_ns: Enum.max(Enum.map(results, &elem(&1, 1))) - t0}
  end

  # --- batch of 100 --------------------------------------------------------------------

  defp batch(ctx, servers, p) do
    sizes = List.duplicate(@region_bytes, p.batch_size)

    sides =
      Map.new(servers, fn {side, node} ->
        server = {:snakepit_shm, node}

        case batch_pair(server, sizes) do
          {:unsupported, reply} ->
            {side, %{supported: false, reply: inspect(reply, limit: 8)}}

          {:ok, _ns} ->
            for _ <- 1..p.batch_warmup//1, do: batch_pair!(server, sizes)
            samples = for _ <- 1..p.batch_reps//1, do: batch_pair!(server, sizes)
            summary = Context.record_latencies!(ctx, "control-batch#{p.batch_size}-#{side}", samples)

            {side, Map.merge(summary, %{supported: true,
                                        per_region_p50_us: Float.round(summary.p50_us / p.batch_size, 3),
                                        per_region_p99_us: Float.round(summary.p99_us / p.batch_size, 3)})}
        end
      end)

    node = sides.node
    erlang = sides.erlang

    if node.supported do
      Context.say("control path, batch of #{p.batch_size} (allocate_many + release_many), " <>
                    "#{node.count} batches: node p50 #{node.p50_us} µs (#{node.per_region_p50_us} µs/region) " <>
                    "p99 #{node.p99_us} µs | erlang p50 #{erlang.p50_us} µs (#{erlang.per_region_p50_us} µs/region) " <>
                    "p99 #{erlang.p99_us} µs")
    else
      Context.say("batch: not supported by this node (#{node.reply}); erlang baseline p50 " <>
                    "#{erlang.p50_us} µs per batch of #{p.batch_size} (#{erlang.per_region_p50_us} µs/region)")
    end

    %{batch_size: p.batch_size, node: node, erlang: erlang,
      ratio_p50: if(node.supported, do: Stats.ratio(node.p50_us, erlang.p50_us))}
  end

  defp batch_pair(server, sizes) do
    t0 = :erlang.monotonic_time(:nanosecond)

    case GenServer.call(server, {:allocate_many, sizes, %{}}, @call_timeout_ms) do
      {:ok, descriptors} when is_list(descriptors) ->
        ids = Enum.map(descriptors, & &1.id)

        case GenServer.call(server, {:release_many, ids, %{}}, @call_timeout_ms) do
          {:ok, %{released: _}} -> {:ok, :erlang.monotonic_time(:nanosecond) - t0}
          other -> Context.fail!("release_many replied #{inspect(other, limit: 10)}")
        end

      {:error, %{code: :invalid_request}} = reply ->
        {:unsupported, reply}

      other ->
        Context.fail!("allocate_many replied #{inspect(other, limit: 10)}")
    end
  end

  defp batch_pair!(server, sizes) do
    case batch_pair(server, sizes) do
      {:ok, ns} -> ns
      {:unsupported, reply} -> Context.fail!("allocate_many stopped working: #{inspect(reply)}")
    end
  end

  defp compare(r) do
    "node p50 #{r.node.p50_us} µs p99 #{r.node.p99_us} µs | erlang p50 #{r.erlang.p50_us} µs " <>
      "p99 #{r.erlang.p99_us} µs | ratio node/erlang p50 #{r.ratio_p50} p99 #{r.ratio_p99}"
  end
end

Bench.Context.run("control_path", &Bench.ControlPath.run/1)
