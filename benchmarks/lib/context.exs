defmodule Bench.Failure do
  @moduledoc "A benchmark could not go on (a process did not start, a reply was wrong)."
  defexception [:message]
end

defmodule Bench.Context do
  @moduledoc """
  What every benchmark script is given by `scripts/bench.sh` on its command line, and
  the helpers that use it: this BEAM's distribution, the run's shm directories, output.

      elixir benchmarks/PART.exs --root REPO --out DIR --mode quick|full \\
        --run-id RID --cookie-file FILE

  Every name this run creates carries the run id: node names `snkbench_RID_*`, shm
  directories `/dev/shm/snkbench-RID-*`, so `scripts/bench.sh` can clean up after a
  crash without touching anything else.
  """

  @enforce_keys [:root, :out_dir, :mode, :run_id, :cookie, :cookie_file, :part]
  defstruct @enforce_keys

  @type t :: %__MODULE__{
          root: Path.t(),
          out_dir: Path.t(),
          mode: :quick | :full,
          run_id: String.t(),
          cookie: atom(),
          cookie_file: Path.t(),
          part: String.t()
        }

  @doc """
  Parses the command line, starts distribution as `snkbench_RID_PART` (short names)
  with the run's cookie and makes this process trap exits (the manager node links to
  holders; an exit signal must not end the benchmark).
  """
  @spec init!(String.t()) :: t()
  def init!(part) do
    {opts, _rest, bad} =
      OptionParser.parse(System.argv(),
        strict: [root: :string, out: :string, mode: :string, run_id: :string, cookie_file: :string]
      )

    if bad != [] or Enum.any?([:root, :out, :mode, :run_id, :cookie_file], &(opts[&1] == nil)) do
      IO.puts(:stderr, "usage: elixir #{part}.exs --root REPO --out DIR --mode quick|full --run-id RID " <>
              "--cookie-file FILE (scripts/bench.sh passes these)")
      System.halt(2)
    end

    cookie = opts[:cookie_file] |> File.read!() |> String.trim() |> String.to_atom()
    ctx = %__MODULE__{
      root: opts[:root],
      out_dir: opts[:out],
      mode: if(opts[:mode] == "quick", do: :quick, else: :full),
      run_id: opts[:run_id],
      cookie: cookie,
      cookie_file: opts[:cookie_file],
      part: part
    }

    case Node.start(node_name(ctx, part), :shortnames) do
      {:ok, _} -> :ok
      {:error, reason} ->
        IO.puts(:stderr, "bench: cannot start distribution: #{inspect(reason)} (is epmd running?)")
        System.halt(1)
    end

    Node.set_cookie(cookie)
    Process.flag(:trap_exit, true)
    ctx
  end

  @doc "The node name (short, without host) of a process of this run."
  @spec node_name(t(), String.t()) :: atom()
  def node_name(ctx, role), do: String.to_atom("snkbench_#{ctx.run_id}_#{role}")

  @doc "True in `--quick` mode."
  @spec quick?(t()) :: boolean()
  def quick?(ctx), do: ctx.mode == :quick

  @doc "Picks the value for the run's mode."
  @spec pick(t(), quick: term, full: term) :: term when term: term()
  def pick(ctx, choices), do: Keyword.fetch!(choices, ctx.mode)

  @doc "Creates (empty, mode 0700) the shm directory `/dev/shm/snkbench-RID-PURPOSE`."
  @spec shm_dir!(t(), String.t()) :: Path.t()
  def shm_dir!(ctx, purpose) do
    dir = "/dev/shm/snkbench-#{ctx.run_id}-#{purpose}"
    File.rm_rf!(dir)
    File.mkdir_p!(dir)
    File.chmod!(dir, 0o700)
    dir
  end

  @doc "Removes a directory made by `shm_dir!/2` with whatever is left in it."
  @spec remove_dir(Path.t()) :: :ok
  def remove_dir(dir) do
    File.rm_rf(dir)
    :ok
  end

  @doc "A path in the run's output directory."
  @spec out_path(t(), String.t()) :: Path.t()
  def out_path(ctx, name), do: Path.join(ctx.out_dir, name)

  @doc "Writes the part's results as `OUT/PART.json`."
  @spec write_results!(t(), map()) :: :ok
  def write_results!(ctx, results) do
    Bench.Json.write!(out_path(ctx, "#{ctx.part}.json"), Map.put(results, :part, ctx.part))
  end

  @doc """
  Records a latency series: `OUT/hgrm/NAME.hgrm` (HdrHistogram's percentile format,
  from the summary) and `OUT/samples/NAME.txt` (every sample in ns, sorted, one a
  line), so any statistic can be recomputed exactly.
  """
  @spec write_latencies!(t(), String.t(), [non_neg_integer()], Bench.Stats.summary()) :: :ok
  def write_latencies!(ctx, name, samples_ns, summary) do
    for dir <- ["hgrm", "samples"], do: File.mkdir_p!(out_path(ctx, dir))
    File.write!(out_path(ctx, "hgrm/#{name}.hgrm"), Bench.Stats.hgrm(summary))
    File.write!(out_path(ctx, "samples/#{name}.txt"), Enum.map(Enum.sort(samples_ns), &[Integer.to_string(&1), ?\n]))
  end

  @doc "Summarises a latency series (`Bench.Stats.summarize/1`) and records it (`write_latencies!/4`)."
  @spec record_latencies!(t(), String.t(), [non_neg_integer()]) :: Bench.Stats.summary()
  def record_latencies!(ctx, name, samples_ns) do
    summary = Bench.Stats.summarize(samples_ns)
    write_latencies!(ctx, name, samples_ns, summary)
    summary
  end

  @doc "Prints one line of progress or results."
  @spec say(String.t()) :: :ok
  def say(line), do: IO.puts(line)

  @doc """
  Aborts the benchmark: raises `Bench.Failure`, so every `after` block on the way out
  runs (stopping nodes and helpers, removing shm directories); `run/2` then prints the
  reason and halts with status 1.
  """
  @spec fail!(String.t()) :: no_return()
  def fail!(reason), do: raise(Bench.Failure, reason)

  @doc """
  Runs a benchmark script: `init!/1`, then `fun.(ctx)`. Any exception is printed on
  stderr and ends the script with status 1, after the `after` blocks inside `fun` ran.
  """
  @spec run(String.t(), (t() -> term())) :: :ok
  def run(part, fun) do
    ctx = init!(part)

    try do
      fun.(ctx)
      :ok
    rescue
      e in Bench.Failure ->
        IO.puts(:stderr, "bench: #{part}: error: #{e.message}")
        System.halt(1)

      e ->
        IO.puts(:stderr, "bench: #{part}: error: " <> Exception.format(:error, e, __STACKTRACE__))
        System.halt(1)
    catch
      :exit, reason ->
        IO.puts(:stderr, "bench: #{part}: error: exit #{inspect(reason, limit: 20)} " <>
                           "(a node or helper went away, or a call timed out)")
        System.halt(1)
    end
  end

  @doc "Wall-clock time in ISO 8601, UTC."
  @spec now_iso() :: String.t()
  def now_iso, do: DateTime.utc_now() |> DateTime.truncate(:second) |> DateTime.to_iso8601()
end
