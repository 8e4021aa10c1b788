defmodule SnakepitShm.Snakepit.Session do
  @moduledoc """
  A session of `SnakepitShm.Snakepit.SessionStore`: the shape of Snakepit's
  `Snakepit.Bridge.Session` plus the shared-memory regions allocated in it.

  Fields kept from Snakepit (same names, same units):

    * `id` — the session id (a non-empty binary of at most 1024 bytes; it is the
      `session` of every region allocated in it);
    * `created_at`, `last_accessed` — `System.monotonic_time(:second)`;
    * `last_worker_id` — the pool worker the session last ran on (session affinity);
    * `ttl` — seconds without access after which the session expires;
    * `metadata` — free-form map, changed with `SessionStore.update_session/3`;
    * `stats` — counters of the session.

  Fields added here:

    * `ttl_ms` — the TTL in milliseconds, the value expiry is decided on (`ttl * 1000`
      unless `ttl_ms:` was given to `create_session`);
    * `accessed_ms` — `System.monotonic_time(:millisecond)` of the last access;
    * `tenant` — the tenant its regions are allocated, listed and ended with (or `nil`);
    * `regions` — `%{region_id => descriptor}` of the regions allocated through the store
      and not released yet.

  Snakepit's `programs` (DSPy program metadata) is left out: it has nothing to do with
  memory.
  """

  @typedoc "A session."
  @type t :: %__MODULE__{
          id: String.t(),
          created_at: integer(),
          last_accessed: integer(),
          last_worker_id: String.t() | nil,
          ttl: non_neg_integer(),
          metadata: map(),
          stats: %{
            regions_allocated: non_neg_integer(),
            bytes_allocated: non_neg_integer(),
            executions: non_neg_integer()
          },
          ttl_ms: non_neg_integer(),
          accessed_ms: integer(),
          tenant: String.t() | nil,
          regions: %{optional(String.t()) => SnakepitShm.descriptor()}
        }

  @enforce_keys [:id, :created_at, :ttl, :ttl_ms, :accessed_ms]
  defstruct [
    :id,
    :created_at,
    :last_accessed,
    :last_worker_id,
    :ttl,
    :ttl_ms,
    :accessed_ms,
    :tenant,
    metadata: %{},
    stats: %{regions_allocated: 0, bytes_allocated: 0, executions: 0},
    regions: %{}
  ]

  @max_id_bytes 1024

  @doc """
  A new session. `ttl_ms` is the TTL in milliseconds; `ttl` (seconds) is derived from
  it, rounded up.
  """
  @spec new(String.t(), non_neg_integer(), String.t() | nil, map()) :: t()
  def new(id, ttl_ms, tenant, metadata) do
    now_ms = System.monotonic_time(:millisecond)
    now_s = System.monotonic_time(:second)

    %__MODULE__{
      id: id,
      created_at: now_s,
      last_accessed: now_s,
      ttl: div(ttl_ms + 999, 1000),
      ttl_ms: ttl_ms,
      accessed_ms: now_ms,
      tenant: tenant,
      metadata: metadata
    }
  end

  @doc "Marks the session accessed now (as Snakepit's `Session.touch/1`)."
  @spec touch(t()) :: t()
  def touch(%__MODULE__{} = session) do
    %{
      session
      | last_accessed: System.monotonic_time(:second),
        accessed_ms: System.monotonic_time(:millisecond)
    }
  end

  @doc """
  True when the session has not been accessed for longer than its TTL.
  `now_ms` is `System.monotonic_time(:millisecond)` (default: now).
  """
  @spec expired?(t(), integer() | nil) :: boolean()
  def expired?(%__MODULE__{} = session, now_ms \\ nil) do
    now_ms = now_ms || System.monotonic_time(:millisecond)
    session.accessed_ms + session.ttl_ms < now_ms
  end

  @doc """
  Checks a session id: a non-empty binary of at most 1024 bytes (the node's limit for a
  `session` option).

      iex> SnakepitShm.Snakepit.Session.valid_id?("job-1")
      true
      iex> SnakepitShm.Snakepit.Session.valid_id?("")
      false
  """
  @spec valid_id?(term()) :: boolean()
  def valid_id?(id),
    do: is_binary(id) and byte_size(id) in 1..@max_id_bytes and String.valid?(id)
end
