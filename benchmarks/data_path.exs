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
#
# Huge pages: when scripts/bench.sh (as root) has mounted a tmpfs with transparent huge
# pages (`mount -t tmpfs -o size=..,huge=within_size,mode=0700 tmpfs DIR`), it passes
# DIR in SNKBENCH_THP_DIR (or, when it could not, the reason in SNKBENCH_THP_SKIPPED).
# A second node then serves DIR/data, and for each size, after the /dev/shm repetitions,
# the three shared-memory handoffs (BEAM → Python, attach + touch only, Python → BEAM)
# run through it as many times, back to back after a warm-up (see measure_huge_pages/4).
# The baselines (memcpy, :binary.copy, the Port pipe) are measured once and shared.
# One untimed round per size and node checks whether huge pages were used (see
# huge_page_check/4): whether the region's pages belong to transparent huge pages
# (/proc/kpageflags), how much of Python's mapping uses 2 MiB entries (ShmemPmdMapped in
# its smaps entry), and ShmemHugePages of /proc/meminfo before and after.
Code.require_file("lib/bench.exs", __DIR__)
Code.require_file("lib/huge_pages.exs", __DIR__)

defmodule Bench.DataPath do
  alias Bench.{Context, HugePages, Manager, Python, Stats}

  @mib 1024 * 1024
  @gib 1024 * @mib
  @block_bytes @mib
  @u64 18_446_744_073_709_551_616
  @pipe_limit_s 60
  @thp_headroom_bytes 64 * @mib
  @not_measured "not measured"

  def run(ctx) do
    params = params(ctx)
    dir = Context.shm_dir!(ctx, "data")

    try do
      manager = Manager.start!(ctx, "node", dir)

      try do
        with_huge_page_node(ctx, fn thp ->
          report_huge_page_setup(thp)
          worker = Python.start!(ctx, "data_worker.py")

          try do
            block = :crypto.strong_rand_bytes(@block_bytes)
            Python.request!(worker, %{op: "block"}, [block])
            env = %{node: manager.node, worker: worker, block: block, thp: thp}

            {results, _} =
              Enum.map_reduce(params.sizes, %{}, fn {size, reps}, estimates ->
                {result, thp_result} = measure_size(env, size, reps, params, estimates)
                {{result, thp_result}, Map.put(estimates, size, result)}
              end)

            Context.write_results!(ctx, %{
              params: %{sizes: Enum.map(params.sizes, fn {s, r} -> %{size_bytes: s, reps: r} end),
                        pipe_1gib: params.pipe_1gib, pipe_limit_s: @pipe_limit_s,
                        checksum_python: "numpy sum of the payload as little-endian uint64 (mod 2^64)",
                        checksum_beam: ":erlang.crc32/1",
                        memcpy: "numpy.copyto into a preallocated, pre-faulted numpy array"},
              sizes: Enum.map(results, &elem(&1, 0)),
              huge_pages: huge_pages_results(thp, Enum.map(results, &elem(&1, 1)))
            })
          after
            Python.stop(worker)
          end
        end)
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

  # --- the huge-page tmpfs -------------------------------------------------------------

  # Runs fun.(thp): thp is %{measured: false, reason: text} when there is no huge-page
  # tmpfs to measure, else %{measured: true, node:, mount:, dir:, options:, capacity_bytes:}
  # with a second node serving MOUNT/data for as long as fun runs.
  defp with_huge_page_node(ctx, fun) do
    case HugePages.mount() do
      {:skip, reason} ->
        fun.(%{measured: false, reason: reason})

      {:ok, mount, options, capacity_bytes} ->
        dir = Path.join(mount, "data")
        File.rm_rf!(dir)
        File.mkdir_p!(dir)
        File.chmod!(dir, 0o700)

        try do
          case start_node(ctx, "node_thp", dir) do
            {:ok, manager} ->
              try do
                fun.(%{measured: true, node: manager.node, mount: mount, dir: dir,
                       options: options, capacity_bytes: capacity_bytes})
              after
                Manager.stop(manager)
              end

            {:error, reason} ->
              fun.(%{measured: false, reason: "the node did not start on #{dir}: #{reason}"})
          end
        after
          Context.remove_dir(dir)
        end
    end
  end

  defp start_node(ctx, role, dir) do
    {:ok, Manager.start!(ctx, role, dir)}
  rescue
    e in Bench.Failure -> {:error, e.message}
  end

  # A released region lives on for the node's grace_ms (100 ms), so the three regions of
  # a repetition's handoffs may exist at once, and the node accepts at most half its
  # directory's size: the rule by which scripts/bench.sh sizes the mount, 6 x the
  # largest size + 64 MiB.
  defp huge_page_skip(%{measured: false}, _size), do: @not_measured

  defp huge_page_skip(thp, size) do
    if 6 * size + @thp_headroom_bytes <= thp.capacity_bytes,
      do: nil,
      else: "skipped: the huge-page tmpfs holds #{div(thp.capacity_bytes, @mib)} MiB"
  end

  defp report_huge_page_setup(%{measured: true} = thp),
    do: Context.say("data path: huge pages: node on #{thp.dir} (tmpfs #{thp.options})")

  defp report_huge_page_setup(%{reason: reason}),
    do: Context.say("data path: huge pages: not measured: #{reason}")

  defp huge_pages_results(%{measured: false, reason: reason}, _),
    do: %{measured: false, reason: reason, sizes: []}

  defp huge_pages_results(thp, sizes) do
    %{measured: true, reason: nil, sizes: sizes,
      mount: %{dir: thp.mount, shm_dir: thp.dir, options: thp.options, size_bytes: thp.capacity_bytes},
      free_page_reporting: HugePages.free_page_reporting(),
      method: "after the /dev/shm repetitions of each size: one untimed check round, one untimed " <>
                "repetition, then the same number of repetitions back to back"}
  end

  # --- one size ------------------------------------------------------------------------

  defp measure_size(env, size, reps, params, estimates) do
    payload = :binary.copy(env.block, div(size, @block_bytes))
    expected = %{sum: expected_sum(env.block, size), crc: expected_crc(env.block, size),
                 first: :binary.first(env.block), last: :binary.last(env.block)}
    {pipe?, pipe_note} = pipe_decision(size, params, estimates)

    # Untimed: whether this node's regions get huge pages (on /dev/shm they should not).
    shm_check = huge_page_check(env, env.node, payload, expected)
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

    result = summarize(size, reps, samples, memcpy_ns, pipe_note) |> Map.put(:huge_page_check, shm_check)
    thp_result = measure_huge_pages(env, result, payload, expected)
    Python.request!(env.worker, %{op: "drop"})
    print(result, thp_result)
    {result, thp_result}
  end

  # The shared-memory handoffs through the node on the huge-page tmpfs, `shm.reps` times
  # back to back after a warm-up: one untimed round that checks the use of huge pages,
  # then one untimed repetition. Back to back, not interleaved with the /dev/shm methods:
  # the first use of fresh huge pages is slow, and on a VM with free page reporting
  # (virtio-balloon) the kernel hands free 2 MiB blocks back to the host about 2 s after
  # they are freed, so that their next use is as slow as a first use.
  defp measure_huge_pages(env, shm, payload, expected) do
    case huge_page_skip(env.thp, shm.size_bytes) do
      nil ->
        check = huge_page_check(env, env.thp.node, payload, expected)
        _ = huge_page_rep(env, payload, expected)

        samples =
          for _ <- 1..shm.reps do
            sample = huge_page_rep(env, payload, expected)
            :erlang.garbage_collect()
            sample
          end

        summarize_huge_pages(shm, samples, check)

      reason ->
        %{size_bytes: shm.size_bytes, reps: shm.reps, skipped: reason}
    end
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
    |> Map.merge(beam_to_python_shm(env, env.node, payload, expected))
    |> Map.merge(beam_to_python_touch(env, env.node, size, expected))
    |> Map.merge(if pipe?, do: beam_to_python_pipe(env, payload, expected), else: %{})
    |> Map.merge(python_to_beam_shm(env, env.node, size, expected))
    |> Map.merge(if pipe?, do: python_to_beam_pipe(env, size, expected), else: %{})
    |> Map.merge(binary_copy(payload))
  end

  # One repetition of the shared-memory handoffs through the node on the huge-page
  # tmpfs; the keys are those of one_rep/4 prefixed with thp_.
  defp huge_page_rep(env, payload, expected) do
    node = env.thp.node

    [beam_to_python_shm(env, node, payload, expected),
     beam_to_python_touch(env, node, byte_size(payload), expected),
     python_to_beam_shm(env, node, byte_size(payload), expected)]
    |> Enum.reduce(&Map.merge/2)
    |> Map.new(fn {key, value} -> {thp_key(key), value} end)
  end

  defp thp_key(key), do: String.to_atom("thp_" <> Atom.to_string(key))

  defp beam_to_python_shm(env, node, payload, expected) do
    {d, alloc_ns} = allocate(node, byte_size(payload))
    t0 = now()
    write_region!(d, payload)
    t1 = now()
    reply = Python.request!(env.worker, %{op: "handoff", desc: d})
    t2 = now()
    release_ns = release(node, d.id)
    check!(String.to_integer(reply["sum"]) == expected.sum, "shared-memory handoff: Python's sum differs")

    %{b2p_handoff: t2 - t0, b2p_write: t1 - t0, b2p_attach: int(reply, "attach_ns"),
      b2p_sum: int(reply, "sum_ns"), b2p_close: int(reply, "close_ns"), alloc: alloc_ns,
      release: release_ns}
  end

  defp write_region!(d, payload) do
    {:ok, file} = :file.open(d.path, [:read, :write, :binary, :raw])
    :ok = :file.pwrite(file, d.offset, payload)
    :ok = :file.close(file)
  end

  # The BEAM → Python handoff once, untimed as a figure, with what huge pages it used:
  # whether the region's pages belong to transparent huge pages (Python samples one page
  # per 2 MiB in /proc/kpageflags), whether Python's mapping uses 2 MiB page-table
  # entries (ShmemPmdMapped in its smaps entry), and ShmemHugePages of /proc/meminfo
  # before and after allocating and writing (system-wide: other processes move it too).
  defp huge_page_check(env, node, payload, expected) do
    size = byte_size(payload)
    before_kib = HugePages.shmem_huge_pages_kib()
    {d, alloc_ns} = allocate(node, size)
    allocated_kib = HugePages.shmem_huge_pages_kib()
    t0 = now()
    write_region!(d, payload)
    t1 = now()
    written_kib = HugePages.shmem_huge_pages_kib()
    t2 = now()
    reply = Python.request!(env.worker, %{op: "handoff", desc: d, smaps: true})
    t3 = now()
    _ = release(node, d.id)
    check!(String.to_integer(reply["sum"]) == expected.sum, "huge page check: Python's sum differs")
    smaps = fn field -> if v = reply["smaps_" <> field], do: String.to_integer(v) end
    pmd_kib = (smaps.("ShmemPmdMapped") || 0) + (smaps.("FilePmdMapped") || 0)
    delta = fn kib -> if kib && before_kib, do: kib - before_kib end
    {sampled, in_thp} = {smaps.("thp_sampled") || 0, smaps.("thp_pages") || 0}

    %{size_bytes: size,
      round_ms: Stats.ms(t1 - t0 + (t3 - t2)), alloc_ms: Stats.ms(alloc_ns), write_ms: Stats.ms(t1 - t0),
      meminfo_shmem_huge_pages_kib: before_kib,
      meminfo_shmem_huge_pages_delta_after_allocate_kib: delta.(allocated_kib),
      meminfo_shmem_huge_pages_delta_after_write_kib: delta.(written_kib),
      python_mapping_kib: smaps.("Size"), python_rss_kib: smaps.("Rss"),
      python_pmd_mapped_kib: pmd_kib, python_thp_eligible: smaps.("THPeligible"),
      python_pages_sampled: sampled, python_pages_in_thp: in_thp,
      file_in_huge_pages: if(sampled > 0, do: in_thp > 0, else: (delta.(written_kib) || 0) > 0),
      file_in_huge_pages_from: if(sampled > 0, do: "kpageflags", else: "meminfo"),
      mapped_with_huge_pages: pmd_kib > 0}
  end

  defp beam_to_python_touch(env, node, size, expected) do
    {d, _} = allocate(node, size)
    # Written untimed: this variant times only the handoff of an already written region.
    t0 = now()
    reply = Python.request!(env.worker, %{op: "handoff_touch", desc: d})
    t1 = now()
    _ = release(node, d.id)
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

  defp python_to_beam_shm(env, node, size, expected) do
    {d, _} = allocate(node, size)
    t0 = now()
    reply = Python.request!(env.worker, %{op: "fill", desc: d})
    t1 = now()
    {:ok, file} = :file.open(d.path, [:read, :binary, :raw])
    {:ok, bytes} = :file.pread(file, d.offset, size)
    :ok = :file.close(file)
    t2 = now()
    crc = :erlang.crc32(bytes)
    t3 = now()
    _ = release(node, d.id)
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
    med = medians(samples, "")
    all_ms = all_ms(samples, "")
    memcpy_ms = Stats.ms(Stats.median(memcpy_ns))
    b2p = Map.merge(b2p_figures(med, all_ms),
                    %{pipe_ms: med.(:b2p_pipe), pipe_python_read_ms: med.(:b2p_pipe_read),
                      pipe_samples_ms: all_ms.(:b2p_pipe)})
    p2b = Map.merge(p2b_figures(med, all_ms),
                    %{pipe_ms: med.(:p2b_pipe), pipe_crc_ms: med.(:p2b_pipe_crc),
                      pipe_samples_ms: all_ms.(:p2b_pipe)})

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
      beam_to_python: Map.merge(b2p, b2p_ratios(b2p, memcpy_ms, b2p.pipe_ms)),
      python_to_beam: Map.merge(p2b, p2b_ratios(p2b, memcpy_ms, p2b.pipe_ms))
    }
  end

  # The same handoffs through the node on the huge-page tmpfs, with ratios to the
  # baselines measured once (`shm`: the /dev/shm result of this size).
  defp summarize_huge_pages(shm, samples, check) do
    med = medians(samples, "thp_")
    all_ms = all_ms(samples, "thp_")
    b2p = b2p_figures(med, all_ms)
    p2b = p2b_figures(med, all_ms)

    %{
      size_bytes: shm.size_bytes,
      reps: shm.reps,
      skipped: nil,
      alloc_ms: med.(:alloc),
      release_ms: med.(:release),
      huge_page_check: check,
      beam_to_python:
        b2p
        |> Map.merge(b2p_ratios(b2p, shm.memcpy_ms, shm.beam_to_python.pipe_ms))
        |> Map.put(:ratio_handoff_to_shm_handoff, Stats.ratio(b2p.handoff_ms, shm.beam_to_python.handoff_ms)),
      python_to_beam:
        p2b
        |> Map.merge(p2b_ratios(p2b, shm.memcpy_ms, shm.python_to_beam.pipe_ms))
        |> Map.put(:ratio_handoff_to_shm_handoff, Stats.ratio(p2b.handoff_ms, shm.python_to_beam.handoff_ms))
    }
  end

  # med.(key): the median in ms of the samples' PREFIX<key> (nil if none).
  defp medians(samples, prefix) do
    fn key ->
      case values(samples, prefix, key) do
        [] -> nil
        values -> Stats.ms(Stats.median(values))
      end
    end
  end

  defp all_ms(samples, prefix), do: fn key -> samples |> values(prefix, key) |> Enum.map(&Stats.ms/1) end

  defp values(samples, prefix, key) do
    key = String.to_atom(prefix <> Atom.to_string(key))
    Enum.flat_map(samples, &List.wrap(&1[key]))
  end

  defp b2p_figures(med, all_ms) do
    %{handoff_ms: med.(:b2p_handoff), write_ms: med.(:b2p_write),
      python_attach_ms: med.(:b2p_attach), python_sum_ms: med.(:b2p_sum),
      python_close_ms: med.(:b2p_close), write_samples_ms: all_ms.(:b2p_write),
      touch_only_ms: med.(:b2p_touch), touch_only_attach_ms: med.(:b2p_touch_attach),
      handoff_samples_ms: all_ms.(:b2p_handoff)}
  end

  defp p2b_figures(med, all_ms) do
    %{handoff_ms: med.(:p2b_handoff), python_fill_ms: med.(:p2b_fill),
      python_copy_ms: med.(:p2b_python_copy), pread_ms: med.(:p2b_pread), crc_ms: med.(:p2b_crc),
      handoff_samples_ms: all_ms.(:p2b_handoff), fill_samples_ms: all_ms.(:p2b_fill)}
  end

  defp b2p_ratios(b2p, memcpy_ms, pipe_ms) do
    %{ratio_handoff_to_memcpy: Stats.ratio(b2p.handoff_ms, memcpy_ms),
      ratio_touch_only_to_memcpy: Stats.ratio(b2p.touch_only_ms, memcpy_ms),
      ratio_pipe_to_handoff: Stats.ratio(pipe_ms, b2p.handoff_ms)}
  end

  defp p2b_ratios(p2b, memcpy_ms, pipe_ms) do
    %{ratio_handoff_to_memcpy: Stats.ratio(p2b.handoff_ms, memcpy_ms),
      ratio_pipe_to_handoff: Stats.ratio(pipe_ms, p2b.handoff_ms)}
  end

  defp print(r, thp) do
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

    case thp do
      %{skipped: nil} ->
        tb = thp.beam_to_python
        tp = thp.python_to_beam
        Context.say("  huge pages, BEAM → Python: shm handoff #{tb.handoff_ms} ms (#{tb.ratio_handoff_to_memcpy}x " <>
                      "memcpy; write #{tb.write_ms}, attach #{tb.python_attach_ms}, sum #{tb.python_sum_ms}), " <>
                      "attach+touch only #{tb.touch_only_ms} ms, " <> pipe.(b.pipe_ms, tb.ratio_pipe_to_handoff))
        Context.say("  huge pages, Python → BEAM: shm handoff #{tp.handoff_ms} ms (fill #{tp.python_fill_ms}, " <>
                      "pread #{tp.pread_ms}, crc32 #{tp.crc_ms}), " <> pipe.(p.pipe_ms, tp.ratio_pipe_to_handoff))
        Context.say("  huge page check, /dev/shm: " <> check_text(r.huge_page_check))
        Context.say("  huge page check, huge-page tmpfs: " <> check_text(thp.huge_page_check))

      %{skipped: reason} ->
        if reason != @not_measured, do: Context.say("  huge pages: #{reason}")
        Context.say("  huge page check, /dev/shm: " <> check_text(r.huge_page_check))
    end
  end

  defp check_text(c) do
    mib = fn kib -> if kib, do: "#{Float.round(kib / 1024, 1)}", else: "?" end
    delta = fn kib -> if kib, do: "#{if kib >= 0, do: "+"}#{mib.(kib)}", else: "?" end

    sampled =
      if c.python_pages_sampled > 0,
        do: "#{c.python_pages_in_thp} of #{c.python_pages_sampled} sampled pages; ",
        else: ""

    "file in huge pages #{yes_no(c.file_in_huge_pages)} (#{sampled}system-wide ShmemHugePages " <>
      "#{delta.(c.meminfo_shmem_huge_pages_delta_after_allocate_kib)} MiB after allocate, " <>
      "#{delta.(c.meminfo_shmem_huge_pages_delta_after_write_kib)} MiB after write), " <>
      "Python maps it with 2 MiB pages #{yes_no(c.mapped_with_huge_pages)} " <>
      "(#{mib.(c.python_pmd_mapped_kib)} of #{mib.(c.python_mapping_kib)} MiB), round #{c.round_ms} ms"
  end

  defp yes_no(true), do: "yes"
  defp yes_no(_), do: "no"

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
