defmodule SnakepitShm.Snakepit.Result do
  @moduledoc """
  What `SnakepitShm.Snakepit.Pool.execute/3` and `execute_in_session/4` return in
  `{:ok, result}`:

    * `fields` — the worker's `ok key=value ...` reply as a map of strings
      (`%{"sum" => "1.25", "sha256" => "..."}`);
    * `regions` — the descriptors of the regions the pool allocated for `{:alloc, size}`
      arguments, under the argument's key (`%{output: descriptor}`): the results Python
      wrote in place, to be read through shared memory (`SnakepitShm.read/3`, numpy);
    * `worker_id`, `python_pid`, `profile` — which worker ran the request.
  """

  @typedoc "A pool result."
  @type t :: %__MODULE__{
          fields: %{optional(String.t()) => String.t()},
          regions: %{optional(atom() | String.t()) => SnakepitShm.descriptor()},
          worker_id: String.t(),
          python_pid: pos_integer() | nil,
          profile: :process | :thread
        }

  @enforce_keys [:fields, :worker_id, :profile]
  defstruct fields: %{}, regions: %{}, worker_id: nil, python_pid: nil, profile: nil
end
