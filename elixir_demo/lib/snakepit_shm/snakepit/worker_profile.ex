defmodule SnakepitShm.Snakepit.WorkerProfile do
  @moduledoc """
  How a pool's workers run: the callbacks of Snakepit's `Snakepit.WorkerProfile`
  behaviour (Snakepit 0.6+), implemented by
  `SnakepitShm.Snakepit.WorkerProfile.Process` (`:process`: one Python process per
  worker, one request at a time) and `SnakepitShm.Snakepit.WorkerProfile.Thread`
  (`:thread`: one Python process serving `threads_per_worker` requests at once on
  threads that share its mappings).

  | profile | Python processes | concurrency | pool capacity |
  |---|---|---|---|
  | `:process` | `pool_size` | one request per process | `pool_size` |
  | `:thread` | `pool_size` | `threads_per_worker` requests per process | `pool_size * threads_per_worker` |

  A worker handle is the pid of a `SnakepitShm.Snakepit.Worker`. The `config` map given
  to `start_worker/1` has `id`, `owner`, `threads_per_worker`, `python`, `python_path`,
  `stderr_path`, `adapter_env`, `start_timeout_ms`.
  """

  alias SnakepitShm.Error

  @typedoc "A running worker."
  @type worker_handle :: pid()

  @typedoc "The worker's configuration (see the module doc)."
  @type config :: map()

  @typedoc "How many requests a worker serves at once."
  @type capacity :: pos_integer()

  @doc "Starts a worker according to the profile."
  @callback start_worker(config()) :: {:ok, worker_handle()} | {:error, Error.t()}

  @doc "Stops a worker and its Python process."
  @callback stop_worker(worker_handle()) :: :ok

  @doc "Runs one request (a map with `op`) on the worker, waiting at most `timeout` ms."
  @callback execute_request(worker_handle(), request :: map(), timeout :: pos_integer()) ::
              {:ok, map()} | {:error, Error.t()}

  @doc "How many requests the worker serves at once (1 for `:process`)."
  @callback get_capacity(worker_handle()) :: capacity()

  @doc "How many requests are in flight on the worker now."
  @callback get_load(worker_handle()) :: non_neg_integer()

  @doc "`:ok` when the worker answers `ping`."
  @callback health_check(worker_handle()) :: :ok | {:error, Error.t()}

  @doc "What the worker is (`SnakepitShm.Snakepit.Worker.info/1`)."
  @callback get_metadata(worker_handle()) :: {:ok, map()} | {:error, Error.t()}

  @doc "The module of a profile name."
  @spec module(:process | :thread) :: module()
  def module(:process), do: SnakepitShm.Snakepit.WorkerProfile.Process
  def module(:thread), do: SnakepitShm.Snakepit.WorkerProfile.Thread
end
