# Benchmark d. Scale:
#
#   1. allocate+release pair latency (one caller, 4 KiB regions) with 1k, 10k and 100k
#      live regions already allocated (1 KiB each, held by one holder process; filled
#      with allocate_many in batches of 1000 when the node has it, else with plain
#      allocate from 4 processes);
#   2. stale sweep of 10k segments: a node is made to create 10k segment files (every
#      region dedicated: dedicated_threshold_bytes = 64, regions of 128 bytes), is killed
#      with SIGKILL, and a new node is started on the same directory; measured: the
#      sweep's own reported duration (its "stale sweep: reclaimed N segment(s) ... in X
#      ms" log line) and the time from launching the new node until the directory is
#      empty.
Code.require_file("lib/bench.exs", __DIR__)

defmodule Bench.Scale do
  alias Bench.{Context, Manager, Stats}

  @pair_bytes 4096
  @live_bytes 1024
  @fill_batch 1000
  @fill_processes 4
  @sweep_region_bytes 128
  @sweep_wait_ms 20_000
  @sweep_idle_ms 5_000

  def run(ctx) do
    params = params(ctx)
    scale = live_regions(ctx, params)
    sweep = stale_sweep(ctx, params)
    Context.write_results!(ctx, %{params: params, live_regions: scale, stale_sweep: sweep})
  end

  defp params(ctx) do
    Context.pick(ctx,
      quick: %{points: [1_000, 10_000], warmup_pairs: 300, pairs: 2_000, sweep_segments: 2_000},
      full: %{points: [1_000, 10_000, 100_000], warmup_pairs: 2_000, pairs: 10_000,
              sweep_segments: 10_000}
    )
    |> Map.merge(%{pair_bytes: @pair_bytes, live_region_bytes: @live_bytes})
  end

  # --- latency with live regions -------------------------------------------------------

  defp live_regions(ctx, p) do
    Manager.with_node(ctx, "scale", fn manager ->
      holder = spawn(fn -> receive do: (:stop -> :ok) end)

      try do
        node = manager.node
        ensure_max_regions(node, List.last(p.points) + 10_000)
        batch? = batch_supported?(node, holder)

        {points, _live} =
          Enum.map_reduce(p.points, 0, fn target, live ->
            fill_ms = fill(node, holder, target - live, @live_bytes, batch?)
            regions = Manager.ok!(node, :stats).regions
            Bench.Pairs.run(node, p.warmup_pairs, @pair_bytes)
            samples = Bench.Pairs.run(node, p.pairs, @pair_bytes)
            summary = Context.record_latencies!(ctx, "scale-#{target}-live", samples)

            Context.say("scale, #{target} live regions (node reports #{regions}): pair p50 " <>
                          "#{summary.p50_us} µs p99 #{summary.p99_us} µs p99.9 #{summary.p999_us} µs " <>
                          "(filled #{target - live} in #{fill_ms} ms#{if batch?, do: " with allocate_many", else: ""})")

            {Map.merge(summary, %{live_regions: target, node_regions: regions, fill_ms: fill_ms,
                                  fill_with: if(batch?, do: "allocate_many", else: "allocate")}), target}
          end)

        base = hd(points)

        Enum.map(points, fn pt ->
          Map.merge(pt, %{ratio_p50_to_first: Stats.ratio(pt.p50_us, base.p50_us),
                          ratio_p99_to_first: Stats.ratio(pt.p99_us, base.p99_us)})
        end)
      after
        Process.exit(holder, :kill)
      end
    end)
  end

  defp ensure_max_regions(node, needed) do
    config = Manager.ok!(node, {:config, :get})

    if is_integer(config.max_regions) and config.max_regions < needed,
      do: Manager.ok!(node, {:config, {:set, %{max_regions: needed}}})
  end

  defp batch_supported?(node, holder) do
    case Manager.call(node, {:allocate_many, [@live_bytes], %{holder: holder}}) do
      {:ok, [%{id: id}]} ->
        {:ok, _} = Manager.call(node, {:release_many, [id], %{holder: holder}})
        true

      {:error, %{code: :invalid_request}} ->
        false

      other ->
        Context.fail!("allocate_many replied #{inspect(other, limit: 10)}")
    end
  end

  # Allocates `count` regions of `size` held by `holder`; returns the time taken (ms).
  defp fill(_node, _holder, count, _size, _batch?) when count <= 0, do: 0.0

  defp fill(node, holder, count, size, true) do
    t0 = now()

    for chunk <- Enum.chunk_every(1..count, @fill_batch) do
      descriptors = Manager.ok!(node, {:allocate_many, List.duplicate(size, length(chunk)), %{holder: holder}})
      length(descriptors) == length(chunk) || Context.fail!("allocate_many returned a short list")
    end

    Stats.ms(now() - t0)
  end

  defp fill(node, holder, count, size, false) do
    t0 = now()

    1..count
    |> Enum.chunk_every(ceil(count / @fill_processes))
    |> Enum.map(fn chunk ->
      Task.async(fn -> Enum.each(chunk, fn _ -> Manager.ok!(node, {:allocate, size, %{holder: holder}}) end) end)
    end)
    |> Task.await_many(:infinity)

    Stats.ms(now() - t0)
  end

  # --- stale sweep ---------------------------------------------------------------------

  defp stale_sweep(ctx, p) do
    dir = Context.shm_dir!(ctx, "sweep")

    try do
      files = make_stale_segments(ctx, dir, p.sweep_segments)
      t0 = now()
      manager = Manager.start!(ctx, "sweep_b", dir)
      ready_ms = Stats.ms(now() - t0)

      try do
        {left, empty_ms} = await_empty(dir, t0)
        gc = Manager.ok!(manager.node, :gc)
        logged = sweep_log_line(manager.log)
        result = %{segments: p.sweep_segments, stale_files: files, ready_ms: ready_ms,
                   start_to_empty_ms: empty_ms, files_left: left, gc: gc,
                   logged_line: logged && logged.line, logged_reclaimed: logged && logged.reclaimed,
                   logged_ms: logged && logged.ms, implemented: left == 0 or logged != nil}

        if result.implemented do
          Context.say("stale sweep of #{files} segment files: #{result.logged_ms || "?"} ms reported by the node " <>
                        "(reclaimed #{result.logged_reclaimed || "?"}); node launch → dir empty " <>
                        "#{empty_ms || "not empty"} ms (ready after #{ready_ms} ms)")
        else
          Context.say("sweep: not implemented by this node (#{left} of #{files} stale segment files " <>
                        "left #{@sweep_idle_ms} ms after ready; removing them)")
        end

        result
      after
        Manager.stop(manager)
      end
    after
      Context.remove_dir(dir)
    end
  end

  # A node creates `count` segment files (one dedicated segment per region), then dies by SIGKILL.
  defp make_stale_segments(ctx, dir, count) do
    manager = Manager.start!(ctx, "sweep_a", dir)
    holder = spawn(fn -> receive do: (:stop -> :ok) end)

    try do
      node = manager.node
      Manager.ok!(node, {:config, {:set, %{dedicated_threshold_bytes: 64}}})
      fill(node, holder, count, @sweep_region_bytes, batch_supported?(node, holder))
      files = length(File.ls!(dir))
      Manager.kill9(manager)
      files >= count || Context.fail!("expected #{count} segment files, found #{files}")
      files
    after
      Process.exit(holder, :kill)
      Manager.stop(manager)
    end
  end

  # Polls the directory until it is empty, or until it stops shrinking.
  defp await_empty(dir, t0), do: await_empty(dir, t0, length(File.ls!(dir)), now())

  defp await_empty(dir, t0, last_count, last_change) do
    count = length(File.ls!(dir))
    t = now()

    cond do
      count == 0 -> {0, Stats.ms(t - t0)}
      Stats.ms(t - t0) > @sweep_wait_ms -> {count, nil}
      count == last_count and Stats.ms(t - last_change) > @sweep_idle_ms -> {count, nil}
      true ->
        Process.sleep(2)
        if count != last_count, do: await_empty(dir, t0, count, t), else: await_empty(dir, t0, count, last_change)
    end
  end

  # The sweep's summary line ("stale sweep ... reclaimed N ... in X ms"), else any
  # "stale sweep" line.
  defp sweep_log_line(log) do
    lines =
      case File.read(log) do
        {:ok, text} -> text |> String.split("\n") |> Enum.filter(&(&1 =~ "stale sweep"))
        {:error, _} -> []
      end

    case Enum.find(lines, &(&1 =~ ~r/ in \d+(\.\d+)? ?ms/)) || List.first(lines) do
      nil ->
        nil

      line ->
        reclaimed = Regex.run(~r/reclaimed (\d+)/, line, capture: :all_but_first)
        ms = Regex.run(~r/ in (\d+(?:\.\d+)?) ?ms/, line, capture: :all_but_first)
        %{line: String.trim(line), reclaimed: reclaimed && String.to_integer(hd(reclaimed)),
          ms: ms && elem(Float.parse(hd(ms)), 0)}
    end
  end

  defp now, do: :erlang.monotonic_time(:nanosecond)
end

Bench.Context.run("scale", &Bench.Scale.run/1)
