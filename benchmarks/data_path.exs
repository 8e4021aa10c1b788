# Benchmark b. Data path between the BEAM and Python, 1 MiB, 64 MiB and 1 GiB:
#
#   BEAM → Python, shared memory: allocate (not timed), then timed from "Elixir starts
#     writing" (:file.open + :file.pwrite + :file.close at the descriptor's offset) through
#     sending the descriptor to the Python helper, which attaches (snakepit_shm.attach),
#     makes a numpy uint64 view and sums it, until Elixir has the reply.
#   BEAM → Python, pipe: the same bytes as one {:packet, 4} Port message; Python reads
#     them into a pre-faulted bytearray and computes the same sum.
#   Python → BEAM, shared memory: Elixir asks Python to fill a region (attach, numpy
#     copyto), then :file.pread's it and computes :erlang.crc32.
#   Python → BEAM, pipe: Python writes the bytes as one packet; Elixir crc32's them.
#   Baselines: one memcpy of the same bytes in Python (numpy.copyto into a preallocated,
#     pre-faulted array) and, for reference, :binary.copy/1 of the binary in the BEAM.
#
# Every payload is one random 1 MiB block repeated, so both sides can check the sums.
Code.require_file("lib/bench.exs", __DIR__)

defmodule Bench.DataPath do
  alias Bench.{Context, Manager, Python, Stats}

  @mib 1024 * 1024
  @gib 1024 * @mib
  @block_bytes @mib
  @u64 18_446_744_073_709_551_616
  @pipe_limit_s 60

  def run(ctx) do
    params = params(ctx)
    dir = Context.shm_dir!(ctx, "data")

    try do
      manager = Manager.start!(ctx, "node", dir)

      try do
        worker = Python.start!(ctx, "data_worker.py")

        try do
          block = :crypto.strong_rand_bytes(@block_bytes)
          Python.request!(worker, %{op: "block"}, [block])
          env = %{node: manager.node, worker: worker, block: block}

          {results, _} =
            Enum.map_reduce(params.sizes, %{}, fn {size, reps}, estimates ->
              result = measure_size(env, size, reps, params, estimates)
              {result, Map.put(estimates, size, result)}
            end)

          Context.write_results!(ctx, %{
            params: %{sizes: Enum.map(params.sizes, fn {s, r} -> %{size_bytes: s, reps: r} end),
                      pipe_1gib: params.pipe_1gib, pipe_limit_s: @pipe_limit_s,
                      checksum_python: "numpy sum of the payload as little-endian uint64 (mod 2^64)",
                      checksum_beam: ":erlang.crc32/1",
                      memcpy: "numpy.copyto into a preallocated, pre-faulted numpy array"},
            sizes: results
          })
        after
          Python.stop(worker)
        end
      after
        Manager.stop(manager)
      end
    after
      Context.remove_dir(dir)
    end
  end

  defp params(ctx) do
    Context.pick(ctx,
      quick: %{sizes: [{@mib, 5}, {64 * @mib, 3}, {@gib, 1}], pipe_1gib: :skip},
      full: %{sizes: [{@mib, 20}, {64 * @mib, 10}, {@gib, 3}], pipe_1gib: :if_under_limit}
    )
  end

  # --- one size ------------------------------------------------------------------------

  defp measure_size(env, size, reps, params, estimates) do
    payload = :binary.copy(env.block, div(size, @block_bytes))
    expected = %{sum: expected_sum(env.block, size), crc: expected_crc(env.block, size),
                 first: :binary.first(env.block), last: :binary.last(env.block)}
    {pipe?, pipe_note} = pipe_decision(size, params, estimates)

    if size <= 64 * @mib, do: one_rep(env, payload, expected, pipe?)

    samples =
      for _ <- 1..reps do
        sample = one_rep(env, payload, expected, pipe?)
        :erlang.garbage_collect()
        sample
      end

    memcpy_ns =
      Python.request!(env.worker, %{op: "memcpy", size: size, reps: reps})
      |> Map.fetch!("ns") |> String.split(",") |> Enum.map(&String.to_integer/1)

    Python.request!(env.worker, %{op: "drop"})
    result = summarize(size, reps, samples, memcpy_ns, pipe_note)
    print(result)
    result
  end

  defp pipe_decision(size, params, estimates) do
    cond do
      size < @gib -> {true, nil}
      params.pipe_1gib == :skip -> {false, "skipped in --quick"}
      true ->
        case estimates[64 * @mib] do
          %{beam_to_python: %{pipe_ms: in_ms}, python_to_beam: %{pipe_ms: out_ms}}
          when is_number(in_ms) and is_number(out_ms) ->
            estimate_s = (in_ms + out_ms) * (size / (64 * @mib)) / 1000

            if estimate_s < @pipe_limit_s,
              do: {true, nil},
              else: {false, "skipped: estimated #{Float.round(estimate_s, 1)} s from 64 MiB " <>
                              "(limit #{@pipe_limit_s} s)"}

          _ ->
            {false, "skipped: no 64 MiB pipe figure to estimate from"}
        end
    end
  end

  # One repetition of every method, interleaved so load changes hit all of them.
  defp one_rep(env, payload, expected, pipe?) do
    size = byte_size(payload)
    %{}
    |> Map.merge(beam_to_python_shm(env, payload, expected))
    |> Map.merge(beam_to_python_touch(env, size, expected))
    |> Map.merge(if pipe?, do: beam_to_python_pipe(env, payload, expected), else: %{})
    |> Map.merge(python_to_beam_shm(env, size, expected))
    |> Map.merge(if pipe?, do: python_to_beam_pipe(env, size, expected), else: %{})
    |> Map.merge(binary_copy(payload))
  end

  defp beam_to_python_shm(env, payload, expected) do
    {d, alloc_ns} = allocate(env.node, byte_size(payload))
    t0 = now()
    {:ok, file} = :file.open(d.path, [:read, :write, :binary, :raw])
    :ok = :file.pwrite(file, d.offset, payload)
    :ok = :file.close(file)
    t1 = now()
    reply = Python.request!(env.worker, %{op: "handoff", desc: d})
    t2 = now()
    release_ns = release(env.node, d.id)
    check!(String.to_integer(reply["sum"]) == expected.sum, "shared-memory handoff: Python's sum differs")

    %{b2p_handoff: t2 - t0, b2p_write: t1 - t0, b2p_attach: int(reply, "attach_ns"),
      b2p_sum: int(reply, "sum_ns"), alloc: alloc_ns, release: release_ns}
  end

  defp beam_to_python_touch(env, size, expected) do
    {d, _} = allocate(env.node, size)
    # Written untimed: this variant times only the handoff of an already written region.
    t0 = now()
    reply = Python.request!(env.worker, %{op: "handoff_touch", desc: d})
    t1 = now()
    _ = release(env.node, d.id)
    check!(String.to_integer(reply["first"]) in [0, expected.first], "touch: wrong first byte")
    %{b2p_touch: t1 - t0, b2p_touch_attach: int(reply, "attach_ns")}
  end

  defp beam_to_python_pipe(env, payload, expected) do
    t0 = now()
    reply = Python.request!(env.worker, %{op: "pipe_in", size: byte_size(payload)}, [payload])
    t1 = now()
    check!(String.to_integer(reply["sum"]) == expected.sum, "pipe: Python's sum differs")
    %{b2p_pipe: t1 - t0, b2p_pipe_read: int(reply, "read_ns")}
  end

  defp python_to_beam_shm(env, size, expected) do
    {d, _} = allocate(env.node, size)
    t0 = now()
    reply = Python.request!(env.worker, %{op: "fill", desc: d})
    t1 = now()
    {:ok, file} = :file.open(d.path, [:read, :binary, :raw])
    {:ok, bytes} = :file.pread(file, d.offset, size)
    :ok = :file.close(file)
    t2 = now()
    crc = :erlang.crc32(bytes)
    t3 = now()
    _ = release(env.node, d.id)
    check!(byte_size(bytes) == size and crc == expected.crc, "shared memory Python → BEAM: crc differs")

    %{p2b_handoff: t3 - t0, p2b_fill: t1 - t0, p2b_python_copy: int(reply, "copy_ns"),
      p2b_pread: t2 - t1, p2b_crc: t3 - t2}
  end

  defp python_to_beam_pipe(env, size, expected) do
    t0 = now()
    Python.send_request(env.worker, %{op: "pipe_out", size: size})
    bytes = Python.await_packet(env.worker.port)
    t1 = now()
    crc = :erlang.crc32(bytes)
    t2 = now()
    check!(byte_size(bytes) == size and crc == expected.crc, "pipe Python → BEAM: crc differs")
    %{p2b_pipe: t2 - t0, p2b_pipe_crc: t2 - t1}
  end

  defp binary_copy(payload) do
    t0 = now()
    copy = :binary.copy(payload)
    t1 = now()
    true = byte_size(copy) == byte_size(payload)
    %{binary_copy: t1 - t0}
  end

  # --- results -------------------------------------------------------------------------

  defp summarize(size, reps, samples, memcpy_ns, pipe_note) do
    med = fn key ->
      case Enum.flat_map(samples, &List.wrap(&1[key])) do
        [] -> nil
        values -> Stats.ms(Stats.median(values))
      end
    end

    all_ms = fn key -> samples |> Enum.flat_map(&List.wrap(&1[key])) |> Enum.map(&Stats.ms/1) end
    memcpy_ms = Stats.ms(Stats.median(memcpy_ns))
    b2p = %{handoff_ms: med.(:b2p_handoff), write_ms: med.(:b2p_write),
            python_attach_ms: med.(:b2p_attach), python_sum_ms: med.(:b2p_sum),
            touch_only_ms: med.(:b2p_touch), touch_only_attach_ms: med.(:b2p_touch_attach),
            pipe_ms: med.(:b2p_pipe), pipe_python_read_ms: med.(:b2p_pipe_read),
            handoff_samples_ms: all_ms.(:b2p_handoff), pipe_samples_ms: all_ms.(:b2p_pipe)}
    p2b = %{handoff_ms: med.(:p2b_handoff), python_fill_ms: med.(:p2b_fill),
            python_copy_ms: med.(:p2b_python_copy), pread_ms: med.(:p2b_pread), crc_ms: med.(:p2b_crc),
            pipe_ms: med.(:p2b_pipe), pipe_crc_ms: med.(:p2b_pipe_crc),
            handoff_samples_ms: all_ms.(:p2b_handoff), pipe_samples_ms: all_ms.(:p2b_pipe)}

    %{
      size_bytes: size,
      reps: reps,
      memcpy_ms: memcpy_ms,
      memcpy_samples_ms: Enum.map(memcpy_ns, &Stats.ms/1),
      memcpy_gib_per_s: gib_per_s(size, memcpy_ms),
      binary_copy_ms: med.(:binary_copy),
      alloc_ms: med.(:alloc),
      release_ms: med.(:release),
      pipe_note: pipe_note,
      beam_to_python: Map.merge(b2p, %{
        ratio_handoff_to_memcpy: Stats.ratio(b2p.handoff_ms, memcpy_ms),
        ratio_touch_only_to_memcpy: Stats.ratio(b2p.touch_only_ms, memcpy_ms),
        ratio_pipe_to_handoff: Stats.ratio(b2p.pipe_ms, b2p.handoff_ms)}),
      python_to_beam: Map.merge(p2b, %{
        ratio_handoff_to_memcpy: Stats.ratio(p2b.handoff_ms, memcpy_ms),
        ratio_pipe_to_handoff: Stats.ratio(p2b.pipe_ms, p2b.handoff_ms)})
    }
  end

  defp print(r) do
    b = r.beam_to_python
    p = r.python_to_beam
    pipe = fn ms, ratio -> if ms, do: "pipe #{ms} ms (#{ratio}x the handoff)", else: "pipe #{r.pipe_note}" end

    Context.say("data path #{human(r.size_bytes)}, median of #{r.reps}: memcpy #{r.memcpy_ms} ms " <>
                  "(#{r.memcpy_gib_per_s} GiB/s), :binary.copy #{r.binary_copy_ms} ms")
    Context.say("  BEAM → Python: shm handoff #{b.handoff_ms} ms (#{b.ratio_handoff_to_memcpy}x memcpy; " <>
                  "write #{b.write_ms}, attach #{b.python_attach_ms}, sum #{b.python_sum_ms}), " <>
                  "attach+touch only #{b.touch_only_ms} ms, " <> pipe.(b.pipe_ms, b.ratio_pipe_to_handoff))
    Context.say("  Python → BEAM: shm handoff #{p.handoff_ms} ms (fill #{p.python_fill_ms}, pread " <>
                  "#{p.pread_ms}, crc32 #{p.crc_ms}), " <> pipe.(p.pipe_ms, p.ratio_pipe_to_handoff))
  end

  # --- helpers -------------------------------------------------------------------------

  defp allocate(node, size) do
    t0 = now()
    d = Manager.ok!(node, {:allocate, size, %{}}, 60_000)
    {d, now() - t0}
  end

  defp release(node, id) do
    t0 = now()
    :ok = Manager.ok!(node, {:release, id, %{}}, 60_000)
    now() - t0
  end

  defp expected_sum(block, size) do
    block_sum = for <<word::little-64 <- block>>, reduce: 0, do: (acc -> acc + word)
    rem(block_sum * div(size, byte_size(block)), @u64)
  end

  defp expected_crc(block, size),
    do: Enum.reduce(1..div(size, byte_size(block)), 0, fn _, crc -> :erlang.crc32(crc, block) end)

  defp check!(true, _what), do: :ok
  defp check!(false, what), do: Context.fail!(what <> " (data corrupted: a bug, not a timing)")

  defp int(reply, key), do: String.to_integer(Map.fetch!(reply, key))
  defp now, do: :erlang.monotonic_time(:nanosecond)
  defp gib_per_s(size, ms) when is_number(ms) and ms > 0, do: Float.round(size / @gib / (ms / 1000), 2)
  defp gib_per_s(_, _), do: nil
  defp human(size) when size >= @gib, do: "#{div(size, @gib)} GiB"
  defp human(size), do: "#{div(size, @mib)} MiB"
end

Bench.Context.run("data_path", &Bench.DataPath.run/1)
