# The suite runs against ONE real snakepit-shm node, started here through NodeProcess
# with its own shm dir (/dev/shm/snktest-mix-<random>, mode 0700). The node starts epmd,
# so it is started before this BEAM becomes distributed. after_suite stops it and
# removes the dir; a failure while starting cleans up the same way.

defmodule SnakepitShm.TestNode do
  @moduledoc "The node the suite runs against, and helpers shared by the tests."

  alias SnakepitShm.NodeProcess

  @doc "Starts the node and distribution; returns the NodeProcess map."
  @spec start!(String.t(), Path.t(), Path.t()) :: NodeProcess.t()
  def start!(suffix, shm_dir, log_path) do
    {:ok, node_process} =
      NodeProcess.start(name: "snktest_mix_#{suffix}", shm_dir: shm_dir, stderr_path: log_path)

    :ok =
      SnakepitShm.connect(node_process.node,
        cookie: node_process.cookie,
        start_distribution: {:"snktest_elixir_#{suffix}", :shortnames}
      )

    node_process
  end

  @doc "The node's name."
  @spec server() :: node()
  def server, do: Application.fetch_env!(:snakepit_shm, :test_node)

  @doc "The node's shm dir."
  @spec shm_dir() :: Path.t()
  def shm_dir, do: Application.fetch_env!(:snakepit_shm, :test_shm_dir)

  @doc "A fresh random text, for sessions and labels."
  @spec unique(String.t()) :: String.t()
  def unique(prefix),
    do: prefix <> "-" <> Base.encode16(:crypto.strong_rand_bytes(6), case: :lower)

  @doc """
  Polls `info` until region `id` is gone; returns the milliseconds since `since_ms`
  (monotonic), or flunks after `timeout_ms`.
  """
  @spec await_gone(String.t(), integer(), non_neg_integer()) :: non_neg_integer()
  def await_gone(id, since_ms, timeout_ms \\ 5_000) do
    # Time is taken after the reply: the region may go while the call is on its way.
    reply = SnakepitShm.info(server(), id)
    now_ms = System.monotonic_time(:millisecond)

    case reply do
      {:error, %{code: :not_found, details: %{reason: :nodedown}}} = error ->
        ExUnit.Assertions.flunk("node unreachable: #{inspect(error)}")

      {:error, %{code: :not_found}} ->
        now_ms - since_ms

      {:ok, info} ->
        if now_ms - since_ms > timeout_ms do
          ExUnit.Assertions.flunk(
            "region #{id} still there after #{timeout_ms} ms: #{inspect(info)}"
          )
        end

        Process.sleep(2)
        await_gone(id, since_ms, timeout_ms)
    end
  end

  @doc "Calls `fun` until it returns true; flunks when `deadline_ms` passed first."
  @spec await((() -> boolean()), String.t(), non_neg_integer()) :: true
  def await(fun, what, deadline_ms \\ 10_000) do
    started = System.monotonic_time(:millisecond)

    Stream.repeatedly(fn -> fun.() end)
    |> Enum.find(fn
      true ->
        true

      false ->
        if System.monotonic_time(:millisecond) - started > deadline_ms,
          do: ExUnit.Assertions.flunk("#{what} did not happen within #{deadline_ms} ms")

        Process.sleep(5)
        false
    end)
  end

  @doc "Stops a GenServer that may be gone already."
  @spec stop_quietly(GenServer.server(), timeout()) :: :ok
  def stop_quietly(server, timeout \\ :infinity) do
    GenServer.stop(server, :normal, timeout)
  catch
    :exit, _ -> :ok
  end

  @doc "Spawns a process that allocates `size_bytes` and waits; returns `{pid, descriptor}`."
  @spec spawn_holder(pos_integer(), keyword()) :: {pid(), SnakepitShm.descriptor()}
  def spawn_holder(size_bytes, opts \\ []) do
    parent = self()
    server = server()

    pid =
      spawn(fn ->
        send(parent, {:holder_allocated, self(), SnakepitShm.allocate(server, size_bytes, opts)})
        Process.sleep(:infinity)
      end)

    receive do
      {:holder_allocated, ^pid, {:ok, descriptor}} -> {pid, descriptor}
      {:holder_allocated, ^pid, error} -> ExUnit.Assertions.flunk("holder: #{inspect(error)}")
    after
      5_000 -> ExUnit.Assertions.flunk("holder process did not allocate")
    end
  end
end

suffix = Base.encode16(:crypto.strong_rand_bytes(5), case: :lower)
shm_dir = "/dev/shm/snktest-mix-#{suffix}"
log_path = Path.join(System.tmp_dir!(), "snktest-mix-#{suffix}-node.log")
File.mkdir!(shm_dir)
File.chmod!(shm_dir, 0o700)

node_process =
  try do
    SnakepitShm.TestNode.start!(suffix, shm_dir, log_path)
  rescue
    error ->
      File.rm_rf(shm_dir)

      IO.puts(
        :stderr,
        "node log (#{log_path}):\n" <> (File.read(log_path) |> elem(1) |> to_string())
      )

      File.rm(log_path)
      reraise error, __STACKTRACE__
  end

Application.put_env(:snakepit_shm, :test_node, node_process.node)
Application.put_env(:snakepit_shm, :test_shm_dir, shm_dir)

ExUnit.after_suite(fn _result ->
  :ok = SnakepitShm.NodeProcess.stop(node_process)
  File.rm_rf!(shm_dir)
  File.rm(log_path)
end)

python_ready? =
  System.find_executable("python3") != nil and
    File.exists?(Path.join(SnakepitShm.Paths.python_demo(), "snakepit_shm/worker.py"))

ExUnit.start(exclude: if(python_ready?, do: [], else: [:python]))
