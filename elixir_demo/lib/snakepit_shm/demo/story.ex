defmodule SnakepitShm.Demo.Story do
  @moduledoc """
  Steps (a)–(f) of `mix snakepit_shm.demo`, each printing what it does and checking
  what it claims, then steps (g)–(j) (`SnakepitShm.Demo.Sessions`: a session, pools of
  both worker profiles, the session's end). Every step takes the demo context and
  returns `{:ok, context}` or `{:error, message}`; step (k), stopping everything, is in
  `SnakepitShm.Demo`.
  """

  alias SnakepitShm.{Latency, PythonWorker}
  alias SnakepitShm.Demo.{Floats, Say}

  import SnakepitShm.Demo.Say, only: [expect: 2, check: 2, line: 1, timed: 1, duration: 1]

  @factor 2.5
  @poll_interval_ms 2
  @freed_deadline_ms 10_000

  @typedoc "What the steps share."
  @type context :: %{
          required(:server) => node(),
          required(:count) => pos_integer(),
          required(:pairs) => pos_integer(),
          required(:workers) => [PythonWorker.t()],
          required(:worker_pids) => [pos_integer()],
          required(:grace_ms) => non_neg_integer(),
          optional(:worker_log) => Path.t(),
          optional(atom()) => term()
        }

  @doc "Runs steps (a) to (j) in order; stops at the first failure."
  @spec run(context()) :: {:ok, context()} | {:error, String.t()}
  def run(context) do
    [
      &write_input/1,
      &scale_in_python/1,
      &hash_in_python/1,
      &round_trip_latency/1,
      &holder_crash/1,
      &os_pid_holder_crash/1,
      &SnakepitShm.Demo.Sessions.run/1,
      &release_data_regions/1
    ]
    |> Enum.reduce_while({:ok, context}, fn step, {:ok, context} ->
      case step.(context) do
        {:ok, context} -> {:cont, {:ok, context}}
        {:error, message} -> {:halt, {:error, message}}
      end
    end)
  end

  # (a) ------------------------------------------------------------------------------

  @spec write_input(context()) :: {:ok, context()} | {:error, String.t()}
  defp write_input(%{server: server, count: count} = context) do
    Say.step("a", "Elixir allocates two regions and writes #{count} float64 into one")
    size_bytes = count * 8

    with {{:ok, input}, alloc_us} <-
           timed(fn -> allocate(server, size_bytes, label: "demo-input", session: "demo") end),
         {:ok, output} <- allocate(server, size_bytes, label: "demo-output", session: "demo") do
      line(
        "input  region #{input.id}: #{Say.bytes(size_bytes)} at #{input.path} " <>
          "offset #{input.offset} (allocated in #{duration(alloc_us)})"
      )

      line("output region #{output.id}: #{Say.bytes(size_bytes)} at #{output.path}")

      {input_bin, build_us} = timed(fn -> Floats.input(count) end)
      {written, write_us} = timed(fn -> SnakepitShm.write(input, 0, input_bin) end)

      with {:ok, :ok} <- expect(written, "writing the input payload") do
        line(
          "built the floats in #{duration(build_us)}; :file.pwrite into shared memory " <>
            "took #{duration(write_us)} (#{Say.rate(size_bytes, write_us)})"
        )

        {:ok, Map.merge(context, %{input: input, output: output, input_bin: input_bin})}
      end
    else
      {{:error, _} = error, _us} -> expect(error, "allocating the input region")
      {:error, _} = error -> expect(error, "allocating the output region")
    end
  end

  # (b) ------------------------------------------------------------------------------

  @spec scale_in_python(context()) :: {:ok, context()} | {:error, String.t()}
  defp scale_in_python(%{workers: [worker | _], worker_pids: [worker_pid | _]} = context) do
    Say.step("b", "Python worker 1 (pid #{worker_pid}) computes output = input * #{@factor}")
    %{input: input, output: output, count: count, input_bin: input_bin} = context
    attach_request = %{op: "attach_time", region: input}
    scale_request = %{op: "scale", input: input, output: output, factor: @factor}

    with {:ok, attach} <- expect(PythonWorker.request(worker, attach_request), "attach_time"),
         :ok <- say_attached(attach, input.size),
         {reply, request_us} = timed(fn -> PythonWorker.request(worker, scale_request) end),
         {:ok, scaled} <- expect(reply, "worker 1 scale"),
         :ok <- say_scaled(scaled, request_us),
         {:ok, output_bin} <- read_back(output, count * 8) do
      verify_scaled(context, scaled, output_bin, input_bin)
    end
  end

  @spec say_attached(map(), non_neg_integer()) :: :ok
  defp say_attached(attach, size_bytes) do
    line(
      "worker 1 mapped the input by its descriptor in #{attach["map_micros"]} µs " <>
        "(only the descriptor crossed the pipe, not the #{Say.bytes(size_bytes)} payload)"
    )
  end

  @spec say_scaled(map(), non_neg_integer()) :: :ok
  defp say_scaled(scaled, request_us) do
    line(
      "numpy scaled #{scaled["n"]} values in place in #{scaled["micros"]} µs; " <>
        "the request took #{duration(request_us)} end to end"
    )
  end

  @spec read_back(SnakepitShm.descriptor(), non_neg_integer()) ::
          {:ok, binary()} | {:error, String.t()}
  defp read_back(output, size_bytes) do
    {result, read_us} = timed(fn -> SnakepitShm.read(output, 0, size_bytes) end)

    with {:ok, bytes} <- expect(result, "reading the output payload") do
      line(
        "Elixir read the output back with :file.pread in #{duration(read_us)} " <>
          "(#{Say.rate(size_bytes, read_us)})"
      )

      {:ok, bytes}
    end
  end

  @spec verify_scaled(context(), map(), binary(), binary()) ::
          {:ok, context()} | {:error, String.t()}
  defp verify_scaled(%{count: count} = context, scaled, output_bin, input_bin) do
    expected_bin = Floats.scale(input_bin, @factor)
    expected_sum = Floats.scaled_sum(count, @factor)
    elixir_sha = sha256_hex(output_bin)
    last = count - 1

    samples =
      Enum.map_join(Enum.uniq([0, 1, 1000, last] |> Enum.filter(&(&1 <= last))), ", ", fn i ->
        "out[#{i}] = #{Floats.at(output_bin, i)}"
      end)

    with :ok <-
           check(
             scaled["n"] == Integer.to_string(count),
             "worker 1 scaled n=#{scaled["n"]}, expected #{count}"
           ),
         :ok <-
           check(output_bin == expected_bin, "the output payload differs from input * #{@factor}"),
         :ok <-
           check(
             scaled["sha256"] == elixir_sha,
             "sha256 of the output: worker #{scaled["sha256"]}, Elixir #{elixir_sha}"
           ),
         {:ok, sum} <- parse_float(scaled["sum"]),
         :ok <-
           check(
             abs(sum - expected_sum) <= 1.0e-9 * max(abs(expected_sum), 1.0),
             "worker 1 sum #{sum}, expected #{expected_sum}"
           ) do
      line("checked: #{samples}")
      line("checked: all #{count} values equal input * #{@factor}; sum #{sum} as expected")
      line("checked: sha256 #{String.slice(elixir_sha, 0, 16)}… is the same in Python and Elixir")
      {:ok, context}
    end
  end

  # (c) ------------------------------------------------------------------------------

  @spec hash_in_python(context()) :: {:ok, context()} | {:error, String.t()}
  defp hash_in_python(%{workers: [_, worker | _], worker_pids: [_, worker_pid | _]} = context) do
    Say.step("c", "Python worker 2 (pid #{worker_pid}) hashes the input region")
    %{input: input, input_bin: input_bin} = context

    {reply, request_us} =
      timed(fn -> PythonWorker.request(worker, %{op: "sha256", region: input}) end)

    elixir_sha = sha256_hex(input_bin)

    with {:ok, hashed} <- expect(reply, "worker 2 sha256"),
         :ok <-
           check(
             hashed["sha256"] == elixir_sha,
             "sha256 of the input: worker 2 #{hashed["sha256"]}, Elixir #{elixir_sha}"
           ),
         :ok <-
           check(
             hashed["size"] == Integer.to_string(input.size),
             "worker 2 hashed #{hashed["size"]} bytes, the region has #{input.size}"
           ) do
      line(
        "worker 2 hashed #{Say.bytes(input.size)} in #{duration(request_us)}: " <>
          "#{String.slice(elixir_sha, 0, 16)}…, the same as :crypto.hash/2 in Elixir"
      )

      {:ok, context}
    end
  end

  # (d) ------------------------------------------------------------------------------

  @spec round_trip_latency(context()) :: {:ok, context()} | {:error, String.t()}
  defp round_trip_latency(%{server: server, pairs: pairs} = context) do
    Say.step("d", "#{pairs} allocate + release round trips of a 4 KiB region")

    pair = fn ->
      with {:ok, region} <- allocate(server, 4096, label: "demo-latency") do
        SnakepitShm.release(server, region.id)
      end
    end

    case Latency.sample(pairs, pair) do
      {:ok, samples} ->
        summary = Latency.summarize(samples)

        line(
          "per pair (two GenServer.calls to the node): p50 #{summary.p50_us} µs, " <>
            "p99 #{summary.p99_us} µs, max #{summary.max_us} µs"
        )

        {:ok, context}

      {:error, error} ->
        expect(error, "an allocate/release pair")
    end
  end

  # (e) ------------------------------------------------------------------------------

  @spec holder_crash(context()) :: {:ok, context()} | {:error, String.t()}
  defp holder_crash(%{server: server, grace_ms: grace_ms} = context) do
    Say.step("e", "An Elixir process holding a region is killed")
    parent = self()

    holder =
      spawn(fn ->
        send(parent, {:demo_holder, self(), allocate(server, 65_536, label: "demo-crash")})
        Process.sleep(:infinity)
      end)

    with {:ok, region} <- await_holder(holder),
         {:ok, info} <- expect(SnakepitShm.info(server, region.id), "info"),
         :ok <-
           check(
             info.refcount == 1 and Enum.map(info.holders, & &1.holder) == [holder],
             "info of a fresh region: #{inspect(info)}"
           ) do
      line(
        "process #{inspect(holder)} allocated region #{region.id}: refcount " <>
          "#{info.refcount}, holder #{inspect(holder)}"
      )

      Process.exit(holder, :kill)
      killed_at = System.monotonic_time(:millisecond)
      line("Process.exit(#{inspect(holder)}, :kill) — nobody calls release")

      with {:ok, freed_ms} <- await_freed(server, region.id, killed_at) do
        line(
          "the node saw the link break and deallocated the region #{freed_ms} ms " <>
            "later (grace_ms = #{grace_ms})"
        )

        {:ok, context}
      end
    end
  end

  @spec await_holder(pid()) :: {:ok, SnakepitShm.descriptor()} | {:error, String.t()}
  defp await_holder(holder) do
    receive do
      {:demo_holder, ^holder, result} ->
        with {:error, _} = error <- expect(result, "allocate in the holder process") do
          Process.exit(holder, :kill)
          error
        end
    after
      10_000 ->
        Process.exit(holder, :kill)
        {:error, "the holder process did not report its allocation within 10 s"}
    end
  end

  # (f) ------------------------------------------------------------------------------

  @spec os_pid_holder_crash(context()) :: {:ok, context()} | {:error, String.t()}
  defp os_pid_holder_crash(%{server: server} = context) do
    %{workers: [_, worker | _], worker_pids: [_, worker_pid | _]} = context
    Say.step("f", "A Python worker holding a region as {:os_pid, #{worker_pid}} is killed -9")
    holder = {:os_pid, worker_pid}

    with {:ok, region} <- expect(allocate(server, 65_536, label: "demo-os-pid"), "allocate"),
         {:ok, _} <- expect(SnakepitShm.acquire(server, region, holder: holder), "acquire"),
         {:ok, _} <-
           expect(PythonWorker.request(worker, %{op: "hold", region: region}), "worker 2 hold"),
         {:ok, :ok} <- expect(SnakepitShm.release(server, region.id), "release"),
         {:ok, info} <- expect(SnakepitShm.info(server, region.id), "info"),
         :ok <-
           check(
             info.refcount == 1 and Enum.map(info.holders, & &1.holder) == [holder],
             "info after the Elixir release: #{inspect(info)}"
           ) do
      line(
        "region #{region.id} acquired for #{inspect(holder)}; worker 2 mapped it " <>
          "(hold); Elixir released its own reference"
      )

      line("info: refcount #{info.refcount}, held only by #{inspect(holder)}")
      {_, 0} = System.cmd("kill", ["-9", Integer.to_string(worker_pid)])
      killed_at = System.monotonic_time(:millisecond)
      line("kill -9 #{worker_pid}")

      with {:ok, freed_ms} <- await_freed(server, region.id, killed_at) do
        line(
          "the node noticed the OS process was gone and deallocated the region " <>
            "#{freed_ms} ms later (os_pid poll + grace)"
        )

        {:ok, context}
      end
    end
  end

  # after (f): the data regions are released before everything stops ------------------

  @spec release_data_regions(context()) :: {:ok, context()} | {:error, String.t()}
  defp release_data_regions(%{server: server, input: input, output: output} = context) do
    with {:ok, :ok} <- expect(SnakepitShm.release(server, input.id), "release input"),
         {:ok, :ok} <- expect(SnakepitShm.release(server, output.id), "release output") do
      {:ok, context}
    end
  end

  # helpers ----------------------------------------------------------------------------

  @spec allocate(node(), pos_integer(), keyword()) ::
          {:ok, SnakepitShm.descriptor()} | SnakepitShm.error()
  defp allocate(server, size_bytes, opts), do: SnakepitShm.allocate(server, size_bytes, opts)

  @spec await_freed(node(), String.t(), integer()) ::
          {:ok, non_neg_integer()} | {:error, String.t()}
  defp await_freed(server, id, since_ms) do
    # Time is taken after the reply: the region may go while the call is on its way.
    reply = SnakepitShm.info(server, id)
    now_ms = System.monotonic_time(:millisecond)

    case reply do
      {:error, %{code: :not_found, details: %{reason: :nodedown}}} = error ->
        expect(error, "info of region #{id}")

      {:error, %{code: :not_found}} ->
        {:ok, now_ms - since_ms}

      {:ok, _info} when now_ms - since_ms < @freed_deadline_ms ->
        Process.sleep(@poll_interval_ms)
        await_freed(server, id, since_ms)

      {:ok, info} ->
        {:error,
         "region #{id} still exists #{@freed_deadline_ms} ms after its holder " <>
           "died: #{inspect(info)}"}

      other ->
        expect(other, "info of region #{id}")
    end
  end

  @spec parse_float(String.t() | nil) :: {:ok, float()} | {:error, String.t()}
  defp parse_float(text) when is_binary(text) do
    case Float.parse(text) do
      {value, ""} -> {:ok, value}
      _ -> {:error, "not a number: #{inspect(text)}"}
    end
  end

  defp parse_float(nil), do: {:error, "the worker's reply has no sum"}

  @spec sha256_hex(iodata()) :: String.t()
  defp sha256_hex(data), do: :sha256 |> :crypto.hash(data) |> Base.encode16(case: :lower)
end
