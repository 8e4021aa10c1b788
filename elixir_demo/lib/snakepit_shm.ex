defmodule SnakepitShm do
  @moduledoc """
  Elixir client of the snakepit-shm node: shared-memory regions whose lifetime follows
  Erlang processes (CONTRACT.md, PROTOCOL.md).

  The node is a hidden Erlang node (written in Java with JInterface) that registers the
  process `snakepit_shm`. Every function here is one `GenServer.call` to it, made through
  `SnakepitShm.Call` so that a reply arriving after `timeout_ms` never lingers in the
  caller's mailbox. Each call takes `timeout_ms` (default 5000) in its last argument;
  that key is removed before the request is sent.

      :ok = SnakepitShm.connect(:"snakepit_shm@myhost", cookie: :secret)
      {:ok, region} = SnakepitShm.allocate(:"snakepit_shm@myhost", 4096, session: "job-1")
      :ok = SnakepitShm.write(region, 0, "hello")
      {:ok, "hello"} = SnakepitShm.read(region, 0, 5)
      :ok = SnakepitShm.release(:"snakepit_shm@myhost", region.id)

  ## Holders

  The node holds references for a *holder*: a pid or `{:os_pid, n}`. Because each call
  runs in a proxy process, `allocate/3`, `acquire/3`, `release/3` and `free/3` always
  send `holder: self()` (the process calling this module) unless `:holder` is given.
  When that process exits, the node drops its references.

  The node watches holder pids through *links* (JInterface has no monitors), so the
  link works both ways: if the node goes away, a process it is linked to receives an
  exit signal — `:normal` when the node shuts down cleanly (harmless), `:noconnection`
  when it crashes, is killed, or the connection drops (e.g. `Node.stop/0`), which kills
  a process that does not trap exits. The node keeps a link for a few seconds after the
  holder's last release, so this also applies shortly after a release. Processes that
  must survive the node should trap exits or hold regions through a worker process.

  ## Capability tokens and tenants

  Knowing a region's id is not enough to take a reference to it: every descriptor
  carries `token`, a 128-bit secret (32 lowercase hex digits), and the node's `acquire`
  needs it (SECURITY.md). Pass the descriptor to `acquire/3` — it sends the descriptor's
  `id` and `token` — and hand descriptors, not bare ids, to whoever must acquire. An
  acquire without the token, or with a wrong one, is `:forbidden`; a node whose
  configuration has `acquire_token: :optional` accepts a missing token, never a wrong one.

  A region allocated with `tenant: t` is reserved to callers that pass the same
  `tenant: t`: `acquire/3`, `release/3`, `free/3`, `info/3`, `write_consistent/5` and
  `read_consistent/5` without it (or with another tenant) are `:forbidden`, and `list/2`
  shows only the regions of the tenant in its filter (no tenant: only regions without
  one). The tenant is never taken from a descriptor; give it in the options. An
  operator — a caller passing the key of the node's `--operator-key-file` as
  `operator_key:` to `info/3` or `list/2` — sees every tenant's regions; a wrong key, or
  any key when the node has none, is `:forbidden`.

  Denials are counted in `stats/2` (`security: %{bad_token: n, tenant_denied: n, ...}`)
  and the latest are listed in `health/2` (`security.recent`).

  ## When the node is down

  While the node is not running (it crashed, was killed, or was stopped), every call
  returns `{:error, %SnakepitShm.Error{code: :not_found, details: %{reason: :nodedown}}}`
  at once instead of
  waiting for `timeout_ms`: the connection closes with the node's OS process, and
  Erlang's auto-connect fails immediately because epmd no longer lists the name (a few
  milliseconds per call in `test/snakepit_shm/node_down_test.exs`, which bounds it at
  2 s). `connect/2` reports the same error, with what epmd says.

  No reconnect is needed when the node comes back under the same name: the next call
  connects by itself (the BEAM keeps the cookie `connect/2` set for that node). Region
  ids and descriptors of the dead run are not valid any more: the restarted node
  reclaims the dead run's segments before it serves, so its ids are `:not_found`.

  `SnakepitShm.Manager` (a child spec for a supervision tree) starts the node, restarts
  it with backoff when it dies, and answers `SnakepitShm.Manager.server/2` with the node
  or, while it is down, with this same `:not_found` / `reason: :nodedown` error.

  A node that is alive but does not answer (stopped with SIGSTOP, or on a host that
  does not respond) is not seen as down: calls end with `:timeout` after `timeout_ms`,
  and the distribution's tick (`net_ticktime`, 60 s by default) eventually drops the
  connection.

  ## Telemetry

  Every call emits `[:snakepit, :shm, call, :start | :stop | :exception]` events with
  the duration, the bytes moved and the outcome (`result`, error `code`), through
  `SnakepitShm.Telemetry` — `:telemetry` when that package is loaded, a built-in
  dispatcher otherwise. `SnakepitShm.Events` forwards the node's own events (alerts,
  holders that died, sweeps, security events) the same way; `subscribe/2` and
  `report/2` are the underlying calls. The event list is in `SnakepitShm.Telemetry`.

  ## Errors

  Every failure of every function here is `{:error, %SnakepitShm.Error{code: atom,
  message: binary, remediation: binary | nil, details: map}}`: the node's errors (its
  error maps become structs in `SnakepitShm.Call`, the extra keys going to
  `details`), the client's `:timeout` (no reply within `timeout_ms`), `:not_found` with
  `details.reason: :nodedown` (the node cannot be reached), and `:invalid_request` for
  arguments refused before anything is sent (a server that is not a node name, options
  that are not a keyword list or map, a bad `timeout_ms`, a payload offset out of
  bounds). Nothing here raises for bad input. The codes are listed in
  `SnakepitShm.Error`; `SnakepitShm.Error.unwrap!/1` raises the error instead.

      case SnakepitShm.allocate(server, 4096, tenant: "t1") do
        {:ok, region} -> region
        {:error, %SnakepitShm.Error{code: :limit_exceeded, details: %{limit_name: name}}} -> ...
        {:error, %SnakepitShm.Error{code: :not_found, details: %{reason: :nodedown}}} -> ...
        {:error, %SnakepitShm.Error{} = error} -> raise error
      end
  """

  alias SnakepitShm.{Call, Error, Payload, Telemetry}

  @typedoc "The node (`:\"snakepit_shm@host\"`) or `{registered_name, node}`."
  @type server :: node() | {atom(), node()}

  @typedoc "A region descriptor (CONTRACT section 3)."
  @type descriptor :: %{
          required(:id) => String.t(),
          required(:generation) => non_neg_integer(),
          required(:segment) => String.t(),
          required(:path) => String.t(),
          required(:offset) => non_neg_integer(),
          required(:size) => non_neg_integer(),
          required(:access) => :read_write | :read_only,
          required(:tenant) => String.t() | nil,
          required(:session) => String.t() | nil,
          required(:token) => String.t(),
          optional(atom()) => term()
        }

  @typedoc "A region id: 16 lowercase hex digits."
  @type region_id :: String.t()

  @typedoc "A holder of references: a pid or an OS process."
  @type holder :: pid() | {:os_pid, pos_integer()}

  @typedoc "An error tuple (CONTRACT section 4); the codes are in `SnakepitShm.Error`."
  @type error :: {:error, Error.t()}

  @typedoc """
  Request options: the node's keys (`session`, `tenant`, `holder`, `sensitive`,
  `ttl_ms`, `label`, `access`, `token`, `operator_key`) plus `timeout_ms`. A keyword
  list or a map.
  """
  @type opts :: keyword() | map()

  @default_timeout_ms 5000
  # The largest timeout `receive ... after` takes (about 49.7 days).
  @max_timeout_ms 4_294_967_295

  # ---------------------------------------------------------------------------------
  # Connecting
  # ---------------------------------------------------------------------------------

  @doc """
  Connects this BEAM to the node and checks that it answers.

  Options:

    * `:cookie` — the node's cookie (atom or string); set for this node only with
      `Node.set_cookie/2`. Without it the BEAM's own cookie is used.
    * `:start_distribution` — when this BEAM is not distributed yet, start it with
      `Node.start/2` under this name (an atom, short names) or `{name, :shortnames |
      :longnames}`. Without it, a BEAM that is not distributed gets an error.
    * `:timeout_ms` — for the final `:ping` call (default 5000).

  Returns `:ok`, or an error whose message says which step failed: distribution off,
  epmd not answering, the name not registered with epmd, or the handshake refused
  (usually a cookie mismatch; the message names the cookie source).
  """
  @spec connect(node(), keyword()) :: :ok | error()
  def connect(node, opts \\ []) do
    with :ok <- check_node(node),
         {:ok, timeout_ms, opts} <- split_opts(opts),
         :ok <- check_cookie(opts[:cookie]),
         :ok <- ensure_distributed(opts[:start_distribution]),
         :ok <- set_cookie(node, opts[:cookie]),
         :ok <- connect_node(node, opts[:cookie]),
         {:ok, _info} <- ping(node, timeout_ms: timeout_ms) do
      :ok
    end
  end

  @doc """
  Asks the node for its name and OS pid (protocol extension `:ping`).

  Returns `{:ok, %{node: node, pid: os_pid}}`.
  """
  @spec ping(server(), keyword()) :: {:ok, map()} | error()
  def ping(server, opts \\ []) do
    checked(:ping, server, opts, fn timeout_ms, _node_opts ->
      node_call(:ping, server, %{}, nil, :ping, timeout_ms)
    end)
  end

  # ---------------------------------------------------------------------------------
  # Regions
  # ---------------------------------------------------------------------------------

  @doc """
  Allocates a region of `size_bytes` payload bytes and holds one reference to it.

  Options: `session`, `tenant`, `holder` (default: the calling process), `sensitive`,
  `ttl_ms`, `label`, `access`, `timeout_ms`. Returns `{:ok, descriptor}`.
  """
  @spec allocate(server(), pos_integer(), opts()) :: {:ok, descriptor()} | error()
  def allocate(server, size_bytes, opts \\ []) do
    checked(:allocate, server, opts, fn timeout_ms, node_opts ->
      request = {:allocate, size_bytes, Map.put_new(node_opts, :holder, self())}
      bytes = if is_integer(size_bytes), do: size_bytes

      node_call(:allocate, server, scope(node_opts), bytes, request, timeout_ms)
    end)
  end

  @doc """
  Allocates one region per size in a single call (all or nothing), with the options of
  `allocate/3` applied to every region. Returns the descriptors in the order of
  `sizes_bytes`. At most 10,000 sizes; a failure names the offending `index`.
  """
  @spec allocate_many(server(), [pos_integer()], opts()) :: {:ok, [descriptor()]} | error()
  def allocate_many(server, sizes_bytes, opts \\ []) do
    checked(:allocate_many, server, opts, [list: {:sizes_bytes, sizes_bytes}], fn
      timeout_ms, node_opts ->
        request = {:allocate_many, sizes_bytes, Map.put_new(node_opts, :holder, self())}
        bytes = if Enum.all?(sizes_bytes, &is_integer/1), do: Enum.sum(sizes_bytes)

        node_call(:allocate_many, server, scope(node_opts), bytes, request, timeout_ms)
    end)
  end

  @doc """
  Drops one of the holder's references per id in a single call (all or nothing; an id
  may repeat). Options: `holder`, `tenant`, `timeout_ms`. Returns `{:ok, %{released: n}}`.
  """
  @spec release_many(server(), [region_id()], opts()) ::
          {:ok, %{released: non_neg_integer()}} | error()
  def release_many(server, ids, opts \\ []) do
    checked(:release_many, server, opts, [list: {:ids, ids}], fn timeout_ms, node_opts ->
      request = {:release_many, ids, Map.put_new(node_opts, :holder, self())}

      node_call(:release_many, server, scope(node_opts), nil, request, timeout_ms)
    end)
  end

  @doc """
  Writes `data` at `offset` of region `id`'s payload **consistently** (docs/SYNC.md): the
  node takes the region's cross-process write lock (waiting up to `wait_ms`, default
  5000), moves the region's sequence counter so that readers never see a half-written
  value, writes, and releases the lock. The holder (default: the caller) must hold the
  region. Use it when other processes (Python, the JVM) write or read the same bytes
  concurrently; `write/3` is for single-writer data. Returns `:ok`, or `:timeout` when the
  lock stayed taken.
  """
  @spec write_consistent(server(), region_id(), non_neg_integer(), binary(), opts()) ::
          :ok | error()
  def write_consistent(server, id, offset, data, opts \\ []) do
    checked(:write_consistent, server, opts, [binary: {:data, data}], fn
      timeout_ms, node_opts ->
        node_opts = Map.put_new(node_opts, :holder, self())
        request = {:write, id, offset, data, node_opts}

        node_call(
          :write_consistent,
          server,
          scope(node_opts, id),
          byte_size(data),
          request,
          call_timeout(timeout_ms, node_opts)
        )
    end)
  end

  @doc """
  Reads `length` bytes at `offset` of region `id`'s payload as one consistent snapshot
  (docs/SYNC.md): never a mix of two writes. Waits up to `wait_ms` (default 5000) while
  writers keep the region busy. Returns `{:ok, binary}`, `:timeout`, or `:invalid_region`
  when a writer died in the middle of a write (the next consistent write repairs it).
  """
  @spec read_consistent(server(), region_id(), non_neg_integer(), non_neg_integer(), opts()) ::
          {:ok, binary()} | error()
  def read_consistent(server, id, offset, length, opts \\ []) do
    checked(:read_consistent, server, opts, fn timeout_ms, node_opts ->
      node_opts = Map.put_new(node_opts, :holder, self())
      request = {:read, id, offset, length, node_opts}
      bytes = if is_integer(length) and length >= 0, do: length

      node_call(
        :read_consistent,
        server,
        scope(node_opts, id),
        bytes,
        request,
        call_timeout(timeout_ms, node_opts)
      )
    end)
  end

  # The call must outlive the node's own wait.
  defp call_timeout(timeout_ms, node_opts) do
    case Map.get(node_opts, :wait_ms, 5_000) do
      wait_ms when is_integer(wait_ms) -> min(max(timeout_ms, wait_ms + 1_000), @max_timeout_ms)
      # Not an integer: the node refuses it at once.
      _other -> timeout_ms
    end
  end

  @doc """
  Adds a reference to a region for the holder (default: the calling process).

  Give the region's **descriptor** (from `allocate/3`, `allocate_many/3` or `acquire/3`):
  its `id` and capability `token` are sent. Knowing an id is not enough — the node
  refuses an acquire without the region's token, or with a wrong one, as `:forbidden`
  (see "Capability tokens and tenants" above). An id alone is accepted too, with the
  token in `token:`; without it the acquire succeeds only on a node whose configuration
  has `acquire_token: :optional`.

  Options: `token` (wins over the descriptor's), `holder`, `access`, `tenant` (the
  region's tenant, when it has one; never taken from the descriptor), `timeout_ms`.
  Returns `{:ok, descriptor}`.
  """
  @spec acquire(server(), descriptor() | region_id(), opts()) :: {:ok, descriptor()} | error()
  def acquire(server, descriptor_or_id, opts \\ [])

  def acquire(server, %{id: id} = descriptor, opts) do
    checked(:acquire, server, opts, fn timeout_ms, node_opts ->
      node_opts = put_token(node_opts, Map.get(descriptor, :token))
      request = {:acquire, id, Map.put_new(node_opts, :holder, self())}

      node_call(:acquire, server, scope(node_opts, id), nil, request, timeout_ms)
    end)
  end

  def acquire(server, id, opts) when is_binary(id) do
    checked(:acquire, server, opts, fn timeout_ms, node_opts ->
      node_opts = put_token(node_opts, nil)
      request = {:acquire, id, Map.put_new(node_opts, :holder, self())}

      node_call(:acquire, server, scope(node_opts, id), nil, request, timeout_ms)
    end)
  end

  def acquire(server, other, _opts) do
    instrument(:acquire, server, %{}, nil, fn ->
      Error.new(
        :invalid_request,
        "acquire takes a region descriptor (a map with :id and :token) or a region id " <>
          "(a binary), not #{inspect(other, limit: 5)}",
        "pass the descriptor returned by SnakepitShm.allocate/3"
      )
    end)
  end

  # An explicit (non-nil) `token:` option wins; else the descriptor's; none: no key.
  @spec put_token(map(), String.t() | nil) :: map()
  defp put_token(node_opts, descriptor_token) do
    case {Map.get(node_opts, :token), descriptor_token} do
      {nil, nil} -> Map.delete(node_opts, :token)
      {nil, token} -> Map.put(node_opts, :token, token)
      {_given, _} -> node_opts
    end
  end

  @doc """
  Drops one of the holder's references to region `id` (default holder: the caller).

  Options: `holder`, `tenant`, `timeout_ms`. Returns `:ok`.
  """
  @spec release(server(), region_id(), opts()) :: :ok | error()
  def release(server, id, opts \\ []) do
    checked(:release, server, opts, fn timeout_ms, node_opts ->
      request = {:release, id, Map.put_new(node_opts, :holder, self())}

      node_call(:release, server, scope(node_opts, id), nil, request, timeout_ms)
    end)
  end

  @doc """
  Forbids new acquires of region `id` and drops the holder's reference.

  Sent as the protocol extension `{:free, id, %{holder: holder}}` so the node sees the
  real caller, not the proxy. Options: `holder`, `tenant`, `timeout_ms`.
  """
  @spec free(server(), region_id(), opts()) :: :ok | error()
  def free(server, id, opts \\ []) do
    checked(:free, server, opts, fn timeout_ms, node_opts ->
      request = {:free, id, Map.put_new(node_opts, :holder, self())}

      node_call(:free, server, scope(node_opts, id), nil, request, timeout_ms)
    end)
  end

  @doc """
  Describes region `id`: refcount, holders, state, the descriptor's fields (not its
  token), access counters and `history` — the region's last `history_events` (node
  configuration, default 8) events as `%{event, who, at_ms}`, oldest first, `event`
  being one of `:allocated`, `:acquired`, `:released`, `:freed`, `:holder_down`,
  `:session_ended`, `:invalidated`, `:expired` and `who` the holder (pid or
  `{:os_pid, n}`) or `nil` for the node itself (PROTOCOL.md "Observability").

  Options: `tenant` (needed for a region of a tenant), `operator_key` (the node's
  operator key: any tenant's region), `timeout_ms`. Sent as `{:info, id}` when no node
  option is given, else as `{:info, id, opts}`. A region of another tenant, or a wrong
  `operator_key`, is `:forbidden`.
  """
  @spec info(server(), region_id(), opts()) :: {:ok, map()} | error()
  def info(server, id, opts \\ []) do
    checked(:info, server, opts, fn timeout_ms, node_opts ->
      request = if map_size(node_opts) == 0, do: {:info, id}, else: {:info, id, node_opts}

      node_call(:info, server, scope(node_opts, id), nil, request, timeout_ms)
    end)
  end

  @doc """
  Lists regions matching `filter` (`session`, `tenant`, `label`, `holder`, `limit`,
  `operator_key`); `timeout_ms` may be given in the filter too.

  Only the regions of the filter's `tenant` are listed (no `tenant`: only regions without
  one). With the node's `operator_key`, every tenant's regions are listed (or the named
  tenant's); a wrong key, or any key when the node has none, is `:forbidden`.
  """
  @spec list(server(), opts()) :: {:ok, [map()]} | error()
  def list(server, filter \\ []) do
    checked(:list, server, filter, fn timeout_ms, node_filter ->
      node_call(:list, server, scope(node_filter), nil, {:list, node_filter}, timeout_ms)
    end)
  end

  @doc """
  Ends `session`: its regions are freed and every reference to them dropped.

  Only regions the caller may touch are ended: those of its `tenant:` (none: those
  without a tenant), or all with `operator_key:`. Regions of the session that belong to
  another tenant are left alone and counted. Returns
  `{:ok, %{released: n, other_tenants: m}}`.
  """
  @spec release_session(server(), String.t(), keyword()) :: {:ok, map()} | error()
  def release_session(server, session, opts \\ []) do
    checked(:release_session, server, opts, fn timeout_ms, node_opts ->
      request =
        if map_size(node_opts) == 0,
          do: {:release_session, session},
          else: {:release_session, session, node_opts}

      metadata = Map.put(scope(node_opts), :session, session)

      node_call(:release_session, server, metadata, nil, request, timeout_ms)
    end)
  end

  # ---------------------------------------------------------------------------------
  # Operations
  # ---------------------------------------------------------------------------------

  @doc "Counters of the node: regions, segments, bytes, holders, calls, errors."
  @spec stats(server(), keyword()) :: {:ok, map()} | error()
  def stats(server, opts \\ []), do: simple(:stats, server, :stats, opts)

  @doc """
  The node's health: `%{status: :ok | :degraded | :failing, checks: [...], ...}`.

  Counts and checks are node-wide; the lists that name regions (`security.recent`,
  `invalid_regions`) show only those of the caller's `tenant:` (none: those without a
  tenant) unless `operator_key:` is given.
  """
  @spec health(server(), keyword()) :: {:ok, map()} | error()
  def health(server, opts \\ []) do
    checked(:health, server, opts, fn timeout_ms, node_opts ->
      request = if map_size(node_opts) == 0, do: :health, else: {:health, node_opts}

      node_call(:health, server, scope(node_opts), nil, request, timeout_ms)
    end)
  end

  @doc "Deallocates whatever is due now (ended grace periods and ttls, dead OS pids)."
  @spec gc(server(), keyword()) :: {:ok, map()} | error()
  def gc(server, opts \\ []), do: simple(:gc, server, :gc, opts)

  @doc "The node's configuration (`grace_ms`, `max_total_bytes`, ...)."
  @spec config(server(), keyword()) :: {:ok, map()} | error()
  def config(server, opts \\ []), do: simple(:config, server, {:config, :get}, opts)

  @doc "Changes configuration keys at run time; returns the whole configuration after."
  @spec config_set(server(), map(), keyword()) :: {:ok, map()} | error()
  def config_set(server, changes, opts \\ []) do
    checked(:config_set, server, opts, [map: {:changes, changes}], fn timeout_ms, _node_opts ->
      node_call(:config_set, server, %{}, nil, {:config, {:set, changes}}, timeout_ms)
    end)
  end

  @doc """
  A capacity and usage report (protocol extension `:report`, PROTOCOL.md
  "Observability"): `%{generated_ms, node, shm_dir, uptime_ms, capacity, usage,
  headroom, pool, latency, errors, security, alerts, alert_history, recommendations,
  series, config}`. `capacity` has `shm_dir_total_bytes`, `shm_dir_free_bytes`,
  `max_total_bytes`, `bytes_in_use`, `bytes_reserved`; `alerts` are the alerts raised
  now; `recommendations` are `%{id, severity, message, action}`; `series` samples usage
  and latency every 5 s over the last hour. It walks every region once.

  Options: `operator_key`, `timeout_ms`. Sent as `:report` when no node option is given,
  else as `{:report, opts}`.
  """
  @spec report(server(), opts()) :: {:ok, map()} | error()
  def report(server, opts \\ []) do
    checked(:report, server, opts, fn timeout_ms, node_opts ->
      request = if map_size(node_opts) == 0, do: :report, else: {:report, node_opts}
      node_call(:report, server, %{}, nil, request, timeout_ms)
    end)
  end

  @doc """
  Subscribes a process (`pid:`, default: the caller) to the node's events: it then
  receives `{:snakepit_shm_event, event, measurements, metadata}` messages, `event`
  being `[:snakepit, :shm, ...]` (listed in `SnakepitShm.Telemetry`). Returns
  `{:ok, %{subscribed: true, subscribers: n}}`; subscribing twice is harmless. At most
  1000 processes subscribe to one node (`:limit_exceeded`).

  The node links to the subscriber and forgets it when it exits. That link works both
  ways (see "Holders" above): when the node goes away the subscriber receives an exit
  signal, so it should trap exits. `SnakepitShm.Events` does this for you, re-emits the
  events as telemetry and subscribes again after the node comes back.
  """
  @spec subscribe(server(), opts()) :: {:ok, map()} | error()
  def subscribe(server, opts \\ []) do
    checked(:subscribe, server, opts, fn timeout_ms, node_opts ->
      request = {:subscribe, Map.put_new(node_opts, :pid, self())}
      node_call(:subscribe, server, %{}, nil, request, timeout_ms)
    end)
  end

  @doc """
  Ends a subscription made by `subscribe/2` (`pid:`, default: the caller). Returns
  `{:ok, %{subscribed: false, was_subscribed: boolean}}`.
  """
  @spec unsubscribe(server(), opts()) :: {:ok, map()} | error()
  def unsubscribe(server, opts \\ []) do
    checked(:unsubscribe, server, opts, fn timeout_ms, node_opts ->
      request = {:unsubscribe, Map.put_new(node_opts, :pid, self())}
      node_call(:unsubscribe, server, %{}, nil, request, timeout_ms)
    end)
  end

  @doc """
  Sends any `request` to the node and returns its reply; see `SnakepitShm.Call`.

  Holders are not filled in here: the node sees a proxy process as the caller.
  """
  @spec call(server(), term(), non_neg_integer()) :: term()
  def call(server, request, timeout_ms \\ @default_timeout_ms) do
    checked(:call, server, [timeout_ms: timeout_ms], fn timeout_ms, _node_opts ->
      node_call(:call, server, %{request: request_name(request)}, nil, request, timeout_ms)
    end)
  end

  # ---------------------------------------------------------------------------------
  # Payload
  # ---------------------------------------------------------------------------------

  @doc """
  Writes `data` at `offset_in_payload` into the region's payload (bounds-checked).

  Out of bounds is `:invalid_request` and touches nothing; a `:read_only` descriptor is
  `:forbidden`.

  The bytes go straight to the segment file at the descriptor's `path`, which exists on
  Linux only: on macOS and Windows (POSIX shm objects, named sections) this returns
  `{:error, %SnakepitShm.Error{code: :platform_error}}` and touches nothing; use
  `write_consistent/5` there, which goes through the node (see `SnakepitShm.Payload`).
  """
  @spec write(descriptor(), integer(), iodata()) :: :ok | error()
  def write(descriptor, offset_in_payload, data) do
    instrument(:write, nil, descriptor_scope(descriptor), iodata_bytes(data), fn ->
      with :ok <- check_descriptor_id(descriptor) do
        Payload.write(descriptor, offset_in_payload, data)
      end
    end)
  end

  @doc """
  Reads `length` bytes at `offset_in_payload` from the region's payload.

  Like `write/3` it reads the segment file directly, on Linux only; elsewhere it returns
  a `:platform_error` whose remediation is `read_consistent/5`, which goes through the
  node.
  """
  @spec read(descriptor(), integer(), integer()) :: {:ok, binary()} | error()
  def read(descriptor, offset_in_payload, length) do
    bytes = if is_integer(length) and length >= 0, do: length

    instrument(:read, nil, descriptor_scope(descriptor), bytes, fn ->
      with :ok <- check_descriptor_id(descriptor) do
        Payload.read(descriptor, offset_in_payload, length)
      end
    end)
  end

  @doc """
  Allocates a region, calls `fun.(descriptor)` and always releases the region after,
  also when `fun` raises or throws. Returns `fun`'s result, or the allocation error.
  """
  @spec with_region(server(), pos_integer(), opts(), (descriptor() -> result)) ::
          result | error()
        when result: term()
  def with_region(server, size_bytes, opts, fun) do
    with :ok <- check_arg(:fun, fun, &is_function(&1, 1), "a function of one argument"),
         {:ok, descriptor} <- allocate(server, size_bytes, opts) do
      try do
        fun.(descriptor)
      after
        release(server, descriptor.id, release_opts(opts))
      end
    end
  end

  # ---------------------------------------------------------------------------------
  # Helpers
  # ---------------------------------------------------------------------------------

  # One call with its telemetry span (SnakepitShm.Telemetry): `:start`, then `:stop` with
  # the result, or `:exception` (re-raised). Metadata never carries tokens or keys.
  @spec instrument(atom(), server() | nil, map(), non_neg_integer() | nil, (() -> result)) ::
          result
        when result: term()
  defp instrument(call, server, scope, bytes, fun) do
    start_time = System.monotonic_time()
    metadata = Map.merge(scope, %{server: server, call: call, telemetry_span_context: make_ref()})

    Telemetry.execute(
      [:snakepit, :shm, call, :start],
      %{system_time: System.system_time(), monotonic_time: start_time},
      metadata
    )

    try do
      fun.()
    catch
      kind, reason ->
        stacktrace = __STACKTRACE__
        stop_time = System.monotonic_time()

        Telemetry.execute(
          [:snakepit, :shm, call, :exception],
          %{duration: stop_time - start_time, monotonic_time: stop_time},
          Map.merge(metadata, %{kind: kind, reason: reason, stacktrace: stacktrace})
        )

        :erlang.raise(kind, reason, stacktrace)
    else
      result ->
        stop_time = System.monotonic_time()
        measurements = %{duration: stop_time - start_time, monotonic_time: stop_time}
        measurements = if bytes, do: Map.put(measurements, :bytes, bytes), else: measurements
        Telemetry.execute([:snakepit, :shm, call, :stop], measurements, outcome(metadata, result))
        result
    end
  end

  @spec outcome(map(), term()) :: map()
  defp outcome(metadata, :ok), do: Map.merge(metadata, %{result: :ok, code: nil})

  defp outcome(metadata, {:ok, %{id: id}}) when not is_map_key(metadata, :id),
    do: Map.merge(metadata, %{result: :ok, code: nil, id: id})

  defp outcome(metadata, {:ok, _}), do: Map.merge(metadata, %{result: :ok, code: nil})

  defp outcome(metadata, {:error, %{code: code}}) when is_atom(code),
    do: Map.merge(metadata, %{result: :error, code: code})

  defp outcome(metadata, _other), do: Map.merge(metadata, %{result: :error, code: nil})

  # One instrumented call to the node: the telemetry span around Call.call/3.
  @spec node_call(atom(), server(), map(), non_neg_integer() | nil, term(), non_neg_integer()) ::
          term()
  defp node_call(call, server, scope, bytes, request, timeout_ms),
    do: instrument(call, server, scope, bytes, fn -> Call.call(server, request, timeout_ms) end)

  # A call with only `timeout_ms` as option.
  @spec simple(atom(), server(), term(), opts()) :: term()
  defp simple(call, server, request, opts) do
    checked(call, server, opts, fn timeout_ms, _node_opts ->
      node_call(call, server, %{}, nil, request, timeout_ms)
    end)
  end

  # The client's own checks, before anything is sent: `server`, `opts` (a keyword list
  # or map; `timeout_ms` a non-negative integer) and the `args` named in `checks`
  # (`list:`, `binary:` or `map:` `{name, value}`). Passing, `fun.(timeout_ms,
  # node_opts)` runs; failing, the `:invalid_request` error is returned, with the
  # call's telemetry span like any other error.
  @spec checked(atom(), term(), term(), keyword(), (non_neg_integer(), map() -> result)) ::
          result | error()
        when result: term()
  defp checked(call, server, opts, checks \\ [], fun) do
    with :ok <- check_server(server),
         :ok <- check_args(checks),
         {:ok, timeout_ms, node_opts} <- split_opts(opts) do
      fun.(timeout_ms, node_opts)
    else
      {:error, _} = error -> instrument(call, server, %{}, nil, fn -> error end)
    end
  end

  @spec check_server(term()) :: :ok | error()
  defp check_server({name, node}) when is_atom(name) and is_atom(node), do: check_node(node)
  defp check_server(node), do: check_node(node)

  @spec check_node(term()) :: :ok | error()
  defp check_node(node) when is_atom(node) and node not in [nil, true, false], do: :ok

  defp check_node(other) do
    Error.new(
      :invalid_request,
      "#{inspect(other, limit: 5)} is not a snakepit-shm server: give the node's name " <>
        "(an atom like :\"snakepit_shm@host\") or {registered_name, node}",
      "use the node name the node printed in its `ready` line, or " <>
        "SnakepitShm.Manager.server/1 when a manager runs it",
      %{server: other}
    )
  end

  # `SnakepitShm.Payload` checks the rest of a descriptor (path, offset, size, access).
  @spec check_descriptor_id(term()) :: :ok | error()
  defp check_descriptor_id(%{id: id}) when is_binary(id), do: :ok

  defp check_descriptor_id(other) do
    Error.new(
      :invalid_request,
      "not a region descriptor (no binary :id): #{inspect(other, limit: 20)}",
      "pass the descriptor map returned by SnakepitShm.allocate/3 or acquire/3"
    )
  end

  @spec check_args(keyword()) :: :ok | error()
  defp check_args(checks) do
    Enum.reduce_while(checks, :ok, fn
      {:list, {name, value}}, :ok -> check_arg_step(name, value, &is_list/1, "a list")
      {:binary, {name, value}}, :ok -> check_arg_step(name, value, &is_binary/1, "a binary")
      {:map, {name, value}}, :ok -> check_arg_step(name, value, &is_map/1, "a map")
    end)
  end

  defp check_arg_step(name, value, test, what) do
    case check_arg(name, value, test, what) do
      :ok -> {:cont, :ok}
      error -> {:halt, error}
    end
  end

  @spec check_arg(atom(), term(), (term() -> boolean()), String.t()) :: :ok | error()
  defp check_arg(name, value, test, what) do
    if test.(value) do
      :ok
    else
      Error.new(
        :invalid_request,
        "#{name} must be #{what}, not #{inspect(value, limit: 5)}",
        "see the function's documentation for its arguments",
        %{argument: name}
      )
    end
  end

  # What telemetry metadata may show of a request's options: its session and tenant.
  @spec scope(map()) :: map()
  defp scope(node_opts), do: Map.take(node_opts, [:session, :tenant])

  @spec scope(map(), term()) :: map()
  defp scope(node_opts, id), do: node_opts |> scope() |> Map.put(:id, id)

  @spec descriptor_scope(term()) :: map()
  defp descriptor_scope(%{} = descriptor), do: Map.take(descriptor, [:id, :session, :tenant])
  defp descriptor_scope(_other), do: %{}

  @spec iodata_bytes(term()) :: non_neg_integer() | nil
  defp iodata_bytes(data) when is_binary(data), do: byte_size(data)

  defp iodata_bytes(data) when is_list(data) do
    IO.iodata_length(data)
  rescue
    ArgumentError -> nil
  end

  defp iodata_bytes(_other), do: nil

  @spec request_name(term()) :: atom() | nil
  defp request_name(request) when is_atom(request), do: request

  defp request_name(request) when is_tuple(request) and tuple_size(request) > 0 do
    case elem(request, 0) do
      name when is_atom(name) -> name
      _ -> nil
    end
  end

  defp request_name(_request), do: nil

  # Options as a map without `timeout_ms`, and `timeout_ms` (checked).
  @spec split_opts(term()) :: {:ok, non_neg_integer(), map()} | error()
  defp split_opts(opts) do
    with {:ok, map} <- opts_map(opts) do
      case Map.pop(map, :timeout_ms, @default_timeout_ms) do
        {timeout_ms, rest}
        when is_integer(timeout_ms) and timeout_ms >= 0 and timeout_ms <= @max_timeout_ms ->
          {:ok, timeout_ms, rest}

        {other, _rest} ->
          Error.new(
            :invalid_request,
            "timeout_ms must be an integer of milliseconds from 0 to #{@max_timeout_ms}, " <>
              "not " <> inspect(other, limit: 5),
            "pass timeout_ms: 5000 (the default) or leave it out",
            %{key: :timeout_ms}
          )
      end
    end
  end

  @spec opts_map(term()) :: {:ok, map()} | error()
  defp opts_map(opts) when is_map(opts) and not is_struct(opts), do: {:ok, opts}

  defp opts_map(opts) when is_list(opts) do
    if keyword_like?(opts), do: {:ok, Map.new(opts)}, else: bad_opts(opts)
  end

  defp opts_map(opts), do: bad_opts(opts)

  # A proper list of `{atom, value}` pairs.
  @spec keyword_like?(list()) :: boolean()
  defp keyword_like?([]), do: true
  defp keyword_like?([{key, _value} | rest]) when is_atom(key), do: keyword_like?(rest)
  defp keyword_like?(_other), do: false

  @spec bad_opts(term()) :: error()
  defp bad_opts(opts) do
    Error.new(
      :invalid_request,
      "options must be a keyword list or a map, not #{inspect(opts, limit: 5)}",
      "write them as [session: \"s1\", timeout_ms: 1000] or %{session: \"s1\"}",
      %{argument: :opts}
    )
  end

  @spec release_opts(opts()) :: map()
  defp release_opts(opts), do: opts |> Map.new() |> Map.take([:holder, :tenant, :timeout_ms])

  @spec ensure_distributed(nil | atom() | {atom(), :shortnames | :longnames}) ::
          :ok | error()
  defp ensure_distributed(start_as) do
    cond do
      Node.alive?() -> :ok
      start_as == nil -> not_distributed()
      true -> start_distribution(start_as)
    end
  end

  @spec start_distribution(atom() | {atom(), :shortnames | :longnames}) :: :ok | error()
  defp start_distribution({name, mode})
       when is_atom(name) and mode in [:shortnames, :longnames] do
    case Node.start(name, mode) do
      {:ok, _pid} ->
        :ok

      {:error, reason} ->
        Error.new(
          :platform_error,
          "could not start distribution as #{name}: #{inspect(reason)}",
          "make sure epmd runs (`epmd -daemon`; the snakepit-shm launcher starts it) " <>
            "and the name is not taken",
          %{reason: reason}
        )
    end
  end

  defp start_distribution(name) when is_atom(name), do: start_distribution({name, :shortnames})

  defp start_distribution(other) do
    Error.new(
      :invalid_request,
      "start_distribution must be a node name (an atom) or {name, :shortnames | " <>
        ":longnames}, not #{inspect(other, limit: 5)}",
      "pass start_distribution: :my_app or {:my_app, :shortnames}",
      %{key: :start_distribution}
    )
  end

  @spec not_distributed() :: error()
  defp not_distributed do
    Error.new(
      :invalid_request,
      "this BEAM is not a distributed node (Node.alive?() is false), so it cannot " <>
        "reach the snakepit-shm node",
      "start it with `elixir --sname NAME ...` / `iex --sname NAME`, call Node.start/2, " <>
        "or pass start_distribution: :some_name to SnakepitShm.connect/2"
    )
  end

  @spec check_cookie(term()) :: :ok | error()
  defp check_cookie(cookie) when is_atom(cookie) or is_binary(cookie), do: :ok

  defp check_cookie(_other) do
    Error.new(
      :invalid_request,
      "the cookie must be an atom or a string",
      "pass cookie: :secret or cookie: \"secret\" (the node's --cookie or --cookie-file)",
      %{key: :cookie}
    )
  end

  @spec set_cookie(node(), nil | atom() | String.t()) :: :ok
  defp set_cookie(_node, nil), do: :ok

  defp set_cookie(node, cookie) when is_binary(cookie),
    do: set_cookie(node, String.to_atom(cookie))

  defp set_cookie(node, cookie) when is_atom(cookie) do
    true = Node.set_cookie(node, cookie)
    :ok
  end

  @spec connect_node(node(), nil | atom() | String.t()) :: :ok | error()
  defp connect_node(node, cookie) do
    case Node.connect(node) do
      true -> :ok
      :ignored -> not_distributed()
      false -> connect_failed(node, cookie)
    end
  end

  @spec connect_failed(node(), nil | atom() | String.t()) :: error()
  defp connect_failed(node, cookie) do
    {name, host} = split_node(node)

    cookie_source =
      if cookie,
        do: "the cookie given in opts[:cookie]",
        else: "this BEAM's own cookie (Node.get_cookie/0: ~/.erlang.cookie or --cookie)"

    epmd = epmd_report(name, host)

    Error.new(
      :not_found,
      "snakepit-shm node #{node} is not reachable: Node.connect/1 failed. " <>
        "#{epmd.text}; the handshake used #{cookie_source}",
      epmd.remediation,
      %{node: node, reason: :nodedown, epmd: epmd.status}
    )
  end

  @spec epmd_report(String.t(), String.t()) :: %{
          status: atom(),
          text: String.t(),
          remediation: String.t()
        }
  defp epmd_report(name, host) do
    case :erl_epmd.names(String.to_charlist(host)) do
      {:ok, names} ->
        if Enum.any?(names, fn {registered, _port} -> to_string(registered) == name end) do
          %{
            status: :registered,
            text: "epmd on #{host} answers and lists #{name}, so the node runs",
            remediation:
              "the cookies probably differ: pass the node's cookie as opts[:cookie] " <>
                "(the node reads --cookie, --cookie-file or ~/.erlang.cookie)"
          }
        else
          %{
            status: :name_not_registered,
            text:
              "epmd on #{host} answers but lists no #{name} " <>
                "(registered: #{Enum.map_join(names, ", ", &to_string(elem(&1, 0)))})",
            remediation:
              "start the node with `java_node/bin/snakepit-shm node --name #{name}` " <>
                "and wait for its `ready` line"
          }
        end

      {:error, reason} ->
        %{
          status: :no_answer,
          text: "epmd on #{host} does not answer (#{inspect(reason)})",
          remediation:
            "start the node with `java_node/bin/snakepit-shm node` (it starts epmd), " <>
              "or check the host name #{host}"
        }
    end
  end

  @spec split_node(node()) :: {String.t(), String.t()}
  defp split_node(node) do
    case String.split(Atom.to_string(node), "@", parts: 2) do
      [name, host] -> {name, host}
      [name] -> {name, "localhost"}
    end
  end
end
