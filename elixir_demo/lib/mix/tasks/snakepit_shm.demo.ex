defmodule Mix.Tasks.SnakepitShm.Demo do
  @shortdoc "Shows Elixir and Python sharing memory through the snakepit-shm node"

  @moduledoc """
  Runs the snakepit-shm story against a real node and real Python workers.

      mix snakepit_shm.demo [--count N] [--pairs N] [--shm-dir DIR] [--launcher PATH]

  It starts the node (`../java_node/bin/snakepit-shm`, or `--launcher`, or env
  `SNAKEPIT_SHM_LAUNCHER`) as a Port, makes this BEAM a distributed node with a random
  short name and cookie, starts two Python workers (`python_demo`), and then:

    * (a) allocates two regions of `--count` float64 (default 1000000) and writes the
      input from Elixir;
    * (b) worker 1 computes `output = input * 2.5` in place with numpy; Elixir reads
      the output back through shared memory and checks values, sum and sha256;
    * (c) worker 2 hashes the input region: the same sha256 as Elixir's;
    * (d) `--pairs` (default 1000) allocate + release round trips: p50 / p99;
    * (e) a holder process is killed: the region goes after the grace period;
    * (f) a Python worker holding a region by OS pid is killed -9: the region goes;
    * (g) a session is created through `SnakepitShm.Snakepit.SessionStore` (Snakepit's
      session store API) and an input region allocated in it;
    * (h) a `:process` pool (2 Python processes) runs 2 `scale` requests at once with
      `SnakepitShm.Snakepit.Pool.execute_in_session/4`, numpy writing into outputs the
      pool allocated in the session; Elixir reads them back through shared memory;
    * (i) a `:thread` pool (1 Python process, 4 threads) does the same with 4 requests;
    * (j) ending the session frees all its regions: none left on the node, their
      segment files reclaimed;
    * (k) everything stops, and no segment of the node is left in the shm dir.

  Options:

    * `--count N` — float64 values in the data regions (default 1000000)
    * `--pairs N` — allocate/release round trips to time (default 1000)
    * `--shm-dir DIR` — the node's shm dir (default /dev/shm)
    * `--launcher PATH` — the node's launcher

  Exits 0 when every check passed; otherwise prints what failed and exits 1. The node
  and the workers are stopped in every case.
  """

  use Mix.Task

  @switches [count: :integer, pairs: :integer, shm_dir: :string, launcher: :string]

  @impl Mix.Task
  @spec run([String.t()]) :: :ok
  def run(argv) do
    opts = parse!(argv)
    Mix.Task.run("app.start")

    case SnakepitShm.Demo.run(opts) do
      :ok -> :ok
      {:error, message} -> Mix.raise("snakepit_shm.demo failed: " <> message)
    end
  end

  @spec parse!([String.t()]) :: keyword()
  defp parse!(argv) do
    case OptionParser.parse(argv, strict: @switches) do
      {opts, [], []} ->
        Enum.each([:count, :pairs], fn key ->
          if Keyword.has_key?(opts, key) and opts[key] <= 0,
            do: Mix.raise("--#{key} must be a positive integer")
        end)

        opts

      {_opts, rest, invalid} ->
        bad = Enum.map(invalid, fn {flag, _value} -> flag end) ++ rest

        Mix.raise(
          "snakepit_shm.demo: unexpected arguments #{Enum.join(bad, " ")}; usage: " <>
            "mix snakepit_shm.demo [--count N] [--pairs N] [--shm-dir DIR] [--launcher PATH]"
        )
    end
  end
end
