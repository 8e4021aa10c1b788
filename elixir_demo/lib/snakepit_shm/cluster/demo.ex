defmodule SnakepitShm.Cluster.Demo do
  @moduledoc """
  The scale-out demo (`mix snakepit_shm.cluster_demo`, docs/SCALE_OUT.md): two managers
  acting as two hosts, and two BEAM nodes, each of which picks the manager of its own
  host.

    * (a) two managers start, with host ids `host-a` and `host-b` (`SNAKEPIT_SHM_HOST_ID`)
      and a shm dir each;
    * (b) two BEAM nodes start (`:peer`, separate OS processes) with
      `SNAKEPIT_SHM_HOST_ID=host-a` and `host-b`; given both managers, each picks its
      local manager with `SnakepitShm.Cluster.local_manager/1`;
    * (c) BEAM-A allocates a region on its manager, fills it with random bytes and sends
      the descriptor to a process on BEAM-B;
    * (d) BEAM-B's `SnakepitShm.Cluster.acquire/2` refuses it: `:not_found`, reason
      `:other_host`;
    * (e) BEAM-B copies it with `SnakepitShm.Cluster.copy_to_local/2` (once per chunk
      size), checks the sha256 of the copy against BEAM-A's, and reports the throughput;
    * (f) everything stops; both shm dirs must be empty before they are removed.

  `produce/2` and `consume/2` are the two BEAM nodes' roles; they run on the peers (and
  in the tests) and report to a coordinating process by message.
  """

  alias SnakepitShm.{Cluster, NodeProcess}

  @mib 1024 * 1024
  @default_size_bytes 64 * @mib
  @default_chunk_sizes [4 * @mib, 16 * @mib, 64 * @mib]
  @report_timeout_ms 120_000
  @host_ids ["host-a", "host-b"]

  # ---------------------------------------------------------------------------------
  # The roles
  # ---------------------------------------------------------------------------------

  @doc """
  BEAM-A's role: picks the local manager among `opts[:managers]`, allocates
  `opts[:size_bytes]`, fills them with random bytes, sends `{:descriptor, descriptor,
  sha256}` to `opts[:consumer]`, and holds the region until it receives `:finish`, then
  releases it. Reports `{:producer, self(), event}` to `coordinator`: `{:local_manager,
  result}`, `{:produced, descriptor, sha256, fill_us}` or `{:failed, error}`, and
  `{:released, result}`.
  """
  @spec produce(pid(), keyword()) :: :ok
  def produce(coordinator, opts) do
    report = &send(coordinator, {:producer, self(), &1})
    local = Cluster.local_manager(managers: opts[:managers])
    report.({:local_manager, local})

    with {:ok, manager} <- local,
         {:ok, descriptor} <-
           SnakepitShm.allocate(manager, opts[:size_bytes], label: "cluster-demo"),
         {{:ok, sha}, fill_us} <- timed(fn -> fill(descriptor) end) do
      send(opts[:consumer], {:descriptor, descriptor, sha})
      report.({:produced, descriptor, sha, fill_us})

      receive do
        :finish -> report.({:released, SnakepitShm.release(manager, descriptor.id)})
      end
    else
      {{:error, _} = error, _us} -> report.({:failed, error})
      {:error, _} = error -> report.({:failed, error})
    end

    :ok
  end

  @doc """
  BEAM-B's role: picks the local manager among `opts[:managers]`, waits for
  `{:descriptor, descriptor, sha256}`, tries `SnakepitShm.Cluster.acquire/2` (which must
  refuse a descriptor of another host), then copies the region once per size in
  `opts[:chunk_sizes]`, hashing and releasing each copy. Reports `{:consumer, self(),
  event}` to `coordinator`: `{:local_manager, result}`, `{:refused, result}`, then
  `{:copied, [copy]}` (`%{chunk_bytes, us, bytes, sha256, host, id, path}` each) or
  `{:failed, error}`.
  """
  @spec consume(pid(), keyword()) :: :ok
  def consume(coordinator, opts) do
    report = &send(coordinator, {:consumer, self(), &1})
    local = Cluster.local_manager(managers: opts[:managers])
    report.({:local_manager, local})

    receive do
      {:descriptor, descriptor, _sha} ->
        report.({:refused, Cluster.acquire(descriptor, managers: opts[:managers])})

        case copy_each(descriptor, opts) do
          {:ok, copies} -> report.({:copied, copies})
          {:error, _} = error -> report.({:failed, error})
        end
    after
      @report_timeout_ms -> report.({:failed, {:error, "no descriptor came"}})
    end

    :ok
  end

  @spec copy_each(map(), keyword()) :: {:ok, [map()]} | {:error, term()}
  defp copy_each(descriptor, opts) do
    {:ok, manager} = Cluster.local_manager(managers: opts[:managers])

    Enum.reduce_while(opts[:chunk_sizes], {:ok, []}, fn chunk_bytes, {:ok, done} ->
      copy_opts = [managers: opts[:managers], chunk_bytes: chunk_bytes]

      case timed(fn -> Cluster.copy_to_local(descriptor, copy_opts) end) do
        {{:ok, copy}, us} ->
          sha = sha256(copy)
          _ = SnakepitShm.release(manager, copy.id)

          entry = %{
            chunk_bytes: chunk_bytes,
            us: us,
            bytes: copy.size,
            sha256: sha,
            host: copy.host,
            id: copy.id,
            path: copy.path
          }

          {:cont, {:ok, done ++ [entry]}}

        {{:error, _} = error, _us} ->
          {:halt, error}
      end
    end)
  end

  # Random bytes, written and hashed 8 MiB at a time.
  @spec fill(map()) :: {:ok, String.t()} | {:error, term()}
  defp fill(descriptor) do
    chunk = 8 * @mib

    0..(descriptor.size - 1)//chunk
    |> Enum.reduce_while({:ok, :crypto.hash_init(:sha256)}, fn offset, {:ok, hash} ->
      bytes = :crypto.strong_rand_bytes(min(chunk, descriptor.size - offset))

      case SnakepitShm.write(descriptor, offset, bytes) do
        :ok -> {:cont, {:ok, :crypto.hash_update(hash, bytes)}}
        {:error, _} = error -> {:halt, error}
      end
    end)
    |> case do
      {:ok, hash} -> {:ok, hash |> :crypto.hash_final() |> Base.encode16(case: :lower)}
      error -> error
    end
  end

  @doc "The sha256 (lowercase hex) of a local region's payload, read 8 MiB at a time."
  @spec sha256(map()) :: String.t()
  def sha256(descriptor) do
    chunk = 8 * @mib

    0..(descriptor.size - 1)//chunk
    |> Enum.reduce(:crypto.hash_init(:sha256), fn offset, hash ->
      {:ok, bytes} = SnakepitShm.read(descriptor, offset, min(chunk, descriptor.size - offset))
      :crypto.hash_update(hash, bytes)
    end)
    |> :crypto.hash_final()
    |> Base.encode16(case: :lower)
  end

  @spec timed((() -> result)) :: {result, non_neg_integer()} when result: term()
  defp timed(fun) do
    started = System.monotonic_time(:microsecond)
    result = fun.()
    {result, System.monotonic_time(:microsecond) - started}
  end

  # ---------------------------------------------------------------------------------
  # The whole demo
  # ---------------------------------------------------------------------------------

  @doc """
  Runs the demo. Options: `:size_bytes` (default 64 MiB), `:chunk_sizes` (default 4, 16
  and 64 MiB), `:launcher`. Returns `:ok` when every check passed, else `{:error,
  message}`; managers, peers and shm dirs are cleaned up in every case.
  """
  @spec run(keyword()) :: :ok | {:error, String.t()}
  def run(opts \\ []) do
    suffix = 4 |> :crypto.strong_rand_bytes() |> Base.encode16(case: :lower)
    size_bytes = opts[:size_bytes] || @default_size_bytes
    chunk_sizes = opts[:chunk_sizes] || @default_chunk_sizes
    cookie = NodeProcess.random_cookie()
    state = %{managers: [], peers: [], dirs: [], logs: []}
    Process.put({__MODULE__, :state}, state)

    result =
      try do
        with {:ok, managers} <- start_managers(suffix, cookie, opts),
             :ok <- start_distribution(suffix, cookie),
             {:ok, beams} <- start_beams(suffix, cookie) do
          exchange(managers, beams, size_bytes, chunk_sizes)
        end
      after
        cleanup()
      end

    # The shm dirs are checked and removed in every case.
    case {result, check_clean()} do
      {:ok, clean} -> clean
      {{:error, _} = error, _clean} -> error
    end
  end

  @spec start_managers(String.t(), atom(), keyword()) :: {:ok, [node()]} | {:error, String.t()}
  defp start_managers(suffix, cookie, opts) do
    step("a", "two managers acting as two hosts")

    Enum.reduce_while(@host_ids, {:ok, []}, fn host, {:ok, started} ->
      letter = String.last(host)
      dir = "/dev/shm/snkdemo-cl-#{suffix}-#{letter}"
      log = Path.join(System.tmp_dir!(), "snkdemo-cl-#{suffix}-#{letter}.log")
      File.mkdir_p!(dir)
      File.chmod!(dir, 0o700)
      remember(:dirs, dir)
      remember(:logs, log)

      start_opts = [
        name: "snkcl_mgr_#{letter}_#{suffix}",
        cookie: cookie,
        shm_dir: dir,
        stderr_path: log,
        launcher: opts[:launcher]
      ]

      case with_host_env(host, fn ->
             NodeProcess.start(Enum.reject(start_opts, &is_nil(elem(&1, 1))))
           end) do
        {:ok, node_process} ->
          remember(:managers, node_process)
          line("manager #{node_process.node}: host id #{host}, shm dir #{dir}")
          {:cont, {:ok, started ++ [node_process.node]}}

        {:error, error} ->
          {:halt, {:error, "starting the manager of #{host} failed: #{error.message}"}}
      end
    end)
  end

  # The manager inherits this BEAM's environment: SNAKEPIT_SHM_HOST_ID is set around its
  # start only (the demo starts them one after the other).
  @spec with_host_env(String.t(), (() -> result)) :: result when result: term()
  defp with_host_env(host, fun) do
    previous = System.get_env("SNAKEPIT_SHM_HOST_ID")
    System.put_env("SNAKEPIT_SHM_HOST_ID", host)

    try do
      fun.()
    after
      if previous,
        do: System.put_env("SNAKEPIT_SHM_HOST_ID", previous),
        else: System.delete_env("SNAKEPIT_SHM_HOST_ID")
    end
  end

  @spec start_distribution(String.t(), atom()) :: :ok | {:error, String.t()}
  defp start_distribution(suffix, cookie) do
    result =
      if Node.alive?(),
        do: {:ok, :already},
        else: Node.start(:"snkcl_demo_#{suffix}", :shortnames)

    case result do
      {:ok, _} ->
        Node.set_cookie(cookie)
        :ok

      {:error, reason} ->
        {:error, "could not make this BEAM a distributed node: #{inspect(reason)}"}
    end
  end

  @spec start_beams(String.t(), atom()) :: {:ok, [node()]} | {:error, String.t()}
  defp start_beams(suffix, cookie) do
    step("b", "two BEAM nodes, one per host (separate OS processes)")

    Enum.reduce_while(@host_ids, {:ok, []}, fn host, {:ok, started} ->
      case start_peer("snkcl_beam_#{String.last(host)}_#{suffix}", cookie, host) do
        {:ok, peer, node} ->
          remember(:peers, peer)

          line(
            "#{node}: OS pid #{:erpc.call(node, :os, :getpid, [])}, SNAKEPIT_SHM_HOST_ID=#{host}"
          )

          {:cont, {:ok, started ++ [node]}}

        {:error, reason} ->
          {:halt, {:error, "starting the BEAM node of #{host} failed: #{inspect(reason)}"}}
      end
    end)
  end

  @doc """
  Starts a `:peer` BEAM node named `name` (this node must be distributed) with `cookie`,
  this node's code path, as a hidden node, and `SNAKEPIT_SHM_HOST_ID=host_id` (nil:
  unset), and starts
  `:logger` and `:crypto` there (the client needs no application of its own). Returns `{:ok, peer_pid, node}`.
  """
  @spec start_peer(String.t(), atom(), String.t() | nil) ::
          {:ok, pid(), node()} | {:error, term()}
  def start_peer(name, cookie, host_id) do
    code_path = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])
    env = if host_id, do: [{~c"SNAKEPIT_SHM_HOST_ID", String.to_charlist(host_id)}], else: []

    with {:ok, peer, node} <-
           :peer.start_link(%{
             name: String.to_atom(name),
             # Hidden: the peers stay out of :global, whose partition checks would
             # log warnings when they stop.
             args: [~c"-hidden", ~c"-setcookie", Atom.to_charlist(cookie) | code_path],
             env: env
           }),
         {:ok, _} <- :erpc.call(node, Application, :ensure_all_started, [:logger]),
         {:ok, _} <- :erpc.call(node, Application, :ensure_all_started, [:crypto]) do
      {:ok, peer, node}
    end
  end

  @spec exchange([node()], [node()], pos_integer(), [pos_integer()]) :: :ok | {:error, String.t()}
  defp exchange(managers, [beam_a, beam_b], size_bytes, chunk_sizes) do
    [manager_a, manager_b] = managers
    me = self()

    consumer =
      Node.spawn(beam_b, __MODULE__, :consume, [
        me,
        [managers: managers, chunk_sizes: chunk_sizes]
      ])

    producer =
      Node.spawn(beam_a, __MODULE__, :produce, [
        me,
        [managers: managers, size_bytes: size_bytes, consumer: consumer]
      ])

    Process.monitor(consumer)
    Process.monitor(producer)

    try do
      with {:ok, ^manager_a} <- expect(producer, :local_manager, "BEAM-A's local manager"),
           {:ok, ^manager_b} <- expect(consumer, :local_manager, "BEAM-B's local manager"),
           _ =
             line(
               "#{beam_a} picked #{manager_a} (host-a); #{beam_b} picked #{manager_b} (host-b)"
             ),
           _ =
             step(
               "c",
               "BEAM-A allocates #{mib(size_bytes)} on its manager and sends the descriptor to BEAM-B"
             ),
           {:ok, {descriptor, sha, fill_us}} <- expect(producer, :produced, "BEAM-A's region"),
           _ = line("region #{descriptor.id} (host #{descriptor.host}), #{descriptor.path}"),
           _ = line("filled with random bytes in #{ms(fill_us)}; sha256 #{sha}"),
           _ = step("d", "BEAM-B tries to use it on its own host"),
           {:ok, refused} <- expect_raw(consumer, :refused, "BEAM-B's acquire"),
           :ok <- check_refused(refused, descriptor),
           _ =
             step(
               "e",
               "BEAM-B copies it to its own manager (SnakepitShm.Cluster.copy_to_local/2)"
             ),
           {:ok, copies} <- expect(consumer, :copied, "BEAM-B's copies"),
           :ok <- check_copies(copies, sha) do
        send(producer, :finish)

        case expect(producer, :released, "BEAM-A's release") do
          {:ok, :ok} -> :ok
          {:ok, other} -> {:error, "BEAM-A's release failed: #{inspect(other)}"}
          error -> error
        end
      else
        {:ok, other} -> {:error, "unexpected answer: #{inspect(other)}"}
        {:error, _} = error -> error
      end
    after
      send(producer, :finish)
    end
  end

  # The report as it came, `{:error, _}` included.
  @spec expect_raw(pid(), atom(), String.t()) :: {:ok, term()} | {:error, String.t()}
  defp expect_raw(pid, event, what) do
    receive do
      {_role, ^pid, {^event, result}} -> {:ok, result}
      {_role, ^pid, {:failed, error}} -> {:error, "#{what}: #{message(error)}"}
    after
      @report_timeout_ms -> {:error, "#{what}: no report within #{@report_timeout_ms} ms"}
    end
  end

  @spec expect(pid(), atom(), String.t()) :: {:ok, term()} | {:error, String.t()}
  defp expect(pid, event, what) do
    receive do
      {_role, ^pid, {^event, {:ok, value}}} ->
        {:ok, value}

      {:DOWN, _ref, :process, ^pid, reason} when reason != :normal ->
        {:error,
         "#{what}: the process #{inspect(pid)} on #{node(pid)} exited: #{inspect(reason)}"}

      {_role, ^pid, {^event, {:error, error}}} ->
        {:error, "#{what}: #{message(error)}"}

      {_role, ^pid, {:produced, descriptor, sha, us}} when event == :produced ->
        {:ok, {descriptor, sha, us}}

      {_role, ^pid, {^event, :ok}} ->
        {:ok, :ok}

      {_role, ^pid, {^event, other}} ->
        {:ok, other}

      {_role, ^pid, {:failed, error}} ->
        {:error, "#{what}: #{message(error)}"}
    after
      @report_timeout_ms -> {:error, "#{what}: no report within #{@report_timeout_ms} ms"}
    end
  end

  @spec check_refused(term(), map()) :: :ok | {:error, String.t()}
  defp check_refused(
         {:error, %{code: :not_found, details: %{reason: :other_host} = details} = error},
         descriptor
       ) do
    line("SnakepitShm.Cluster.acquire/2: {:error, code :not_found, reason :other_host,")
    line("  host #{details.host}, local_host #{details.local_host}}")
    line("  \"#{error.message}\"")

    if details.host == descriptor.host,
      do: :ok,
      else: {:error, "the refusal names host #{details.host}"}
  end

  defp check_refused(other, _descriptor),
    do:
      {:error,
       "BEAM-B's acquire of a host-a descriptor was not refused as :other_host: #{inspect(other)}"}

  @spec check_copies([map()], String.t()) :: :ok | {:error, String.t()}
  defp check_copies(copies, sha) do
    Enum.reduce_while(copies, :ok, fn copy, :ok ->
      rate = copy.bytes / @mib / max(copy.us / 1_000_000, 1.0e-9)

      line(
        "chunks of #{mib(copy.chunk_bytes)}: #{mib(copy.bytes)} in #{ms(copy.us)} = " <>
          "#{:erlang.float_to_binary(rate, decimals: 1)} MiB/s -> region #{copy.id} (host #{copy.host})"
      )

      cond do
        copy.sha256 != sha ->
          {:halt, {:error, "the copy's sha256 #{copy.sha256} is not the original's #{sha}"}}

        copy.host != "host-b" ->
          {:halt, {:error, "the copy was made on host #{copy.host}, not host-b"}}

        true ->
          {:cont, :ok}
      end
    end)
    |> case do
      :ok ->
        line("sha256 of every copy = BEAM-A's sha256: the bytes arrived unchanged")
        :ok

      error ->
        error
    end
  end

  @spec cleanup() :: :ok
  defp cleanup do
    step("f", "clean up")
    state = Process.get({__MODULE__, :state})

    for peer <- state.peers do
      :peer.stop(peer)
    end

    for node_process <- state.managers do
      _ = NodeProcess.stop(node_process)
    end

    line("peers and managers stopped")
    :ok
  end

  @spec check_clean() :: :ok | {:error, String.t()}
  defp check_clean do
    state = Process.get({__MODULE__, :state})

    left =
      Enum.flat_map(state.dirs, fn dir -> dir |> File.ls!() |> Enum.map(&Path.join(dir, &1)) end)

    Enum.each(state.dirs, &File.rm_rf!/1)
    Enum.each(state.logs, &File.rm/1)

    case left do
      [] ->
        line("no segment left in either shm dir; dirs removed")
        :ok

      files ->
        {:error, "segments left behind: #{Enum.join(files, ", ")}"}
    end
  end

  @spec remember(atom(), term()) :: :ok
  defp remember(key, value) do
    state = Process.get({__MODULE__, :state})
    Process.put({__MODULE__, :state}, Map.update!(state, key, &(&1 ++ [value])))
    :ok
  end

  @spec message(term()) :: String.t()
  defp message(%{message: message, code: code}), do: "[#{code}] #{message}"
  defp message(other) when is_binary(other), do: other
  defp message(other), do: inspect(other)

  @spec step(String.t(), String.t()) :: :ok
  defp step(letter, title), do: IO.puts(["\n", IO.ANSI.format([:bright, "(#{letter}) ", title])])

  @spec line(iodata()) :: :ok
  defp line(text), do: IO.puts(["    ", text])

  @spec mib(non_neg_integer()) :: String.t()
  defp mib(bytes) when rem(bytes, @mib) == 0, do: "#{div(bytes, @mib)} MiB"
  defp mib(bytes), do: "#{Float.round(bytes / @mib, 1)} MiB"

  @spec ms(non_neg_integer()) :: String.t()
  defp ms(us), do: "#{Float.round(us / 1000, 1)} ms"
end
