# Benchmark c. Map/attach time of regions of 4 KiB to 1 GiB, from Python
# (benchmarks/py/map_attach.py: snakepit_shm.attach + numpy view) and from Java
# (benchmarks/java/MapAttach.java: the node's LinuxPlatform, open + mmap).
#
# This script starts a node, allocates one region of each size and writes a byte
# pattern into it (so its pages exist), hands the descriptors to the two programs, which
# write OUT/map_attach_python.json and OUT/map_attach_java.json, and releases the regions.
Code.require_file("lib/bench.exs", __DIR__)

defmodule Bench.MapAttach do
  alias Bench.{Context, Manager}

  @kib 1024
  @mib 1024 * 1024
  @sizes [4 * @kib, 64 * @kib, @mib, 16 * @mib, 256 * @mib, 1024 * @mib]

  def run(ctx) do
    Manager.with_node(ctx, "map", fn manager ->
      regions = Enum.map(@sizes, &prepare(manager.node, &1))
      plan = Enum.map(regions, &Map.merge(&1, reps(ctx, &1.desc.size)))
      run_python(ctx, plan)
      run_java(ctx, plan)
      Enum.each(regions, fn %{desc: d} -> Manager.ok!(manager.node, {:release, d.id, %{}}) end)

      Context.write_results!(ctx, %{
        params: %{sizes: @sizes, page_bytes: 4096,
                  reps: Enum.map(plan, &Map.take(&1, [:reps_first_last, :reps_every_page]))}
      })
    end)
  end

  defp reps(ctx, size) do
    every_page =
      cond do
        size <= @mib -> Context.pick(ctx, quick: 10, full: 50)
        size <= 16 * @mib -> Context.pick(ctx, quick: 5, full: 20)
        size <= 256 * @mib -> Context.pick(ctx, quick: 3, full: 10)
        true -> Context.pick(ctx, quick: 2, full: 5)
      end

    %{reps_first_last: Context.pick(ctx, quick: 30, full: 200), reps_every_page: every_page}
  end

  # Allocates a region and fills it (1 MiB at a time), so every page is backed.
  defp prepare(node, size) do
    d = Manager.ok!(node, {:allocate, size, %{}}, 60_000)
    chunk = :binary.copy(<<0xA5>>, min(size, @mib))
    {:ok, file} = :file.open(d.path, [:read, :write, :binary, :raw])

    try do
      for at <- 0..(size - 1)//byte_size(chunk), do: :ok = :file.pwrite(file, d.offset + at, chunk)
    after
      :file.close(file)
    end

    %{desc: d}
  end

  defp run_python(ctx, plan) do
    file = Context.out_path(ctx, "map_attach_regions.json")
    Bench.Json.write!(file, %{regions: plan})
    python = System.find_executable("python3") || Context.fail!("python3 not found")

    run_cmd(python, [Path.join(ctx.root, "benchmarks/py/map_attach.py"), "--descriptors", file,
                     "--out", Context.out_path(ctx, "map_attach_python.json"), "--run-id", ctx.run_id],
            [{"PYTHONPATH", Path.join(ctx.root, "python_demo")}])
  end

  defp run_java(ctx, plan) do
    tsv = Context.out_path(ctx, "map_attach_regions.tsv")

    File.write!(tsv, Enum.map(plan, fn %{desc: d} = p ->
      Enum.join([d.size, d.path, d.offset, p.reps_first_last, p.reps_every_page], "\t") <> "\n"
    end))

    java = System.find_executable("java") || Context.fail!("java not found")
    target = Path.join(ctx.root, "java_node/target")
    classpath = Path.join(target, "snakepit-shm-node.jar") <> ":" <> Path.join(target, "lib/*")

    run_cmd(java, ["-cp", classpath, "-Dsnkbench.run=#{ctx.run_id}",
                   Path.join(ctx.root, "benchmarks/java/MapAttach.java"), tsv,
                   Context.out_path(ctx, "map_attach_java.json")], [])
  end

  # Runs a program to completion, its stdout shown as it comes.
  defp run_cmd(exe, args, env) do
    {_, status} = System.cmd(exe, args, env: env, into: IO.stream(:stdio, :line), stderr_to_stdout: true)
    if status != 0, do: Context.fail!("#{Path.basename(exe)} #{Enum.at(args, -3)} ... exited with status #{status}")
  end
end

Bench.Context.run("map_attach", &Bench.MapAttach.run/1)
