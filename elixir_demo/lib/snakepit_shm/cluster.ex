defmodule SnakepitShm.Cluster do
  @moduledoc """
  One snakepit-shm manager per host, serving every BEAM node of a cluster on that host
  (docs/SCALE_OUT.md).

  Shared memory is per host: a descriptor's `path` names a file in the manager's tmpfs,
  which only processes on that host can map. Every descriptor therefore carries the
  `host` of the manager that made it, and `:ping` reports the manager's host identity.
  This module

    * computes this BEAM's own host id the way the manager does (`host_id/1`);
    * picks the manager of this host among the cluster's managers (`local_manager/1`),
      by pinging each and comparing host ids, and remembers the choice;
    * refuses a descriptor made on another host with a clear error (`ensure_local/2`,
      `acquire/2`): `{:error, %SnakepitShm.Error{code: :not_found, details: %{reason:
      :other_host, host: theirs, local_host: ours}}}`;
    * copies such a region into a new region of the local manager on request
      (`copy_to_local/2`), reading it through its own manager over distribution.

  ## Host identity

  The host id is, in order of precedence:

    1. the `:host_id` option of the call;
    2. `config :snakepit_shm, SnakepitShm.Cluster, host_id: "..."`;
    3. the environment variable `SNAKEPIT_SHM_HOST_ID` (the manager reads the same one,
       and also takes `--host-id`);
    4. derived: the first 8 bytes, in lowercase hex, of SHA-256 of
       `"snakepit-shm-host-v1\\n" <> hostname <> "\\n" <> boot_id`, where hostname is
       `:inet.gethostname/0` (the kernel's node name) and boot_id the text of
       `/proc/sys/kernel/random/boot_id` (empty where there is none).

  An override is 1 to 64 letters, digits, `.`, `_`, `:` or `-`. Set the same override on
  a BEAM and on its manager when they share a tmpfs but not a host name (containers on
  one kernel with a shared `/dev/shm`), different ones when they share a kernel but not a
  tmpfs, and in tests that make one machine act as several hosts.

  ## Managers

  The candidates are, in order of precedence: the `:managers` option (a list of node
  names), `config :snakepit_shm, SnakepitShm.Cluster, managers: [...]`, or by naming
  convention `:"<manager_name>@<host>"` for this node's host and the host of every
  connected node, where `manager_name` is the `:manager_name` option (or config),
  default `"snakepit_shm"`, the launcher's default name. With `:cookie`, that cookie is
  set for every candidate first (`Node.set_cookie/2`).

  ## Options

    * `:host_id`, `:managers`, `:manager_name`, `:cookie` — above;
    * `:ping_timeout_ms` — how long to wait for each manager's `:ping` (default 2000);
    * `:refresh` — `true` to ping again instead of using the remembered choice.

  `copy_to_local/2` has more; see there.
  """

  alias SnakepitShm.{Error, Telemetry}

  @typedoc "A host id: 16 lowercase hex digits (derived) or an override."
  @type host_id :: String.t()

  @typedoc "A host identity: the id and where it came from."
  @type identity :: %{
          id: host_id(),
          name: String.t(),
          boot_id: String.t() | nil,
          source: :option | :config | :env | :derived
        }

  @typedoc "What `hosts/1` learned about one candidate manager."
  @type candidate :: %{
          node: node(),
          host: host_id() | nil,
          ping: map() | nil,
          error: Error.t() | nil
        }

  @env_var "SNAKEPIT_SHM_HOST_ID"
  @derivation_prefix "snakepit-shm-host-v1\n"
  @boot_id_path "/proc/sys/kernel/random/boot_id"
  @override_pattern ~r/\A[A-Za-z0-9._:-]{1,64}\z/
  @default_manager_name "snakepit_shm"
  @default_ping_timeout_ms 2_000
  @max_chunk_bytes 64 * 1024 * 1024
  @default_chunk_bytes 16 * 1024 * 1024
  @default_copy_timeout_ms 30_000
  @cluster_keys [:host_id, :managers, :manager_name, :cookie, :ping_timeout_ms, :refresh]
  @copy_keys [
    :from,
    :to,
    :chunk_bytes,
    :tenant,
    :session,
    :label,
    :ttl_ms,
    :sensitive,
    :timeout_ms
  ]

  # ---------------------------------------------------------------------------------
  # Host identity
  # ---------------------------------------------------------------------------------

  @doc """
  This BEAM's host identity (see "Host identity" above): `%{id:, name:, boot_id:,
  source:}`. Raises `ArgumentError` for a malformed override.
  """
  @spec host_identity(keyword()) :: identity()
  def host_identity(opts \\ []) do
    case identity(opts) do
      {:ok, identity} -> identity
      {:error, error} -> raise ArgumentError, error.message
    end
  end

  @doc "This BEAM's host id; see `host_identity/1`."
  @spec host_id(keyword()) :: host_id()
  def host_id(opts \\ []), do: host_identity(opts).id

  @doc """
  The derived host id of `hostname` and `boot_id` (`nil` or `""` for none), as the
  manager computes it.

      iex> SnakepitShm.Cluster.derive_host_id("build-7", "3f1c0a9e-5b7d-4e2a-9c1f-0a1b2c3d4e5f")
      "e35ddf13ed30b2d0"
  """
  @spec derive_host_id(String.t(), String.t() | nil) :: host_id()
  def derive_host_id(hostname, boot_id) when is_binary(hostname) do
    text = @derivation_prefix <> hostname <> "\n" <> (boot_id || "")
    <<head::binary-size(8), _::binary>> = :crypto.hash(:sha256, text)
    Base.encode16(head, case: :lower)
  end

  @spec identity(keyword()) :: {:ok, identity()} | {:error, Error.t()}
  defp identity(opts) do
    {name, boot_id} = {hostname(), boot_id()}

    {override, source} =
      cond do
        opts[:host_id] != nil -> {opts[:host_id], :option}
        config(:host_id) != nil -> {config(:host_id), :config}
        present?(System.get_env(@env_var)) -> {String.trim(System.get_env(@env_var)), :env}
        true -> {nil, :derived}
      end

    cond do
      override == nil ->
        {:ok,
         %{id: derive_host_id(name, boot_id), name: name, boot_id: boot_id, source: :derived}}

      is_binary(override) and override =~ @override_pattern ->
        {:ok, %{id: override, name: name, boot_id: boot_id, source: source}}

      true ->
        Error.new(
          :invalid_request,
          "bad host id #{inspect(override)} (from #{source_text(source)}): use 1 to 64 " <>
            "letters, digits, '.', '_', ':' or '-'",
          "fix the host id, or leave it unset to derive it from the host name and boot id",
          %{key: :host_id}
        )
    end
  end

  @spec source_text(atom()) :: String.t()
  defp source_text(:option), do: "the :host_id option"
  defp source_text(:config), do: "config :snakepit_shm, SnakepitShm.Cluster"
  defp source_text(:env), do: "the environment variable #{@env_var}"

  @spec present?(String.t() | nil) :: boolean()
  defp present?(nil), do: false
  defp present?(text), do: String.trim(text) != ""

  @spec hostname() :: String.t()
  defp hostname do
    {:ok, name} = :inet.gethostname()
    List.to_string(name)
  end

  @spec boot_id() :: String.t() | nil
  defp boot_id do
    case File.read(@boot_id_path) do
      {:ok, text} ->
        case text |> String.trim() |> String.downcase() do
          "" -> nil
          id -> id
        end

      {:error, _} ->
        nil
    end
  end

  @spec config(atom()) :: term()
  defp config(key), do: :snakepit_shm |> Application.get_env(__MODULE__, []) |> Keyword.get(key)

  # ---------------------------------------------------------------------------------
  # Managers
  # ---------------------------------------------------------------------------------

  @doc """
  The candidate managers (see "Managers" above), without talking to them.
  """
  @spec managers(keyword()) :: [node()]
  def managers(opts \\ []) do
    case opts[:managers] || config(:managers) do
      nil ->
        name = to_string(opts[:manager_name] || config(:manager_name) || @default_manager_name)

        [node() | Node.list()]
        |> Enum.map(&host_part/1)
        |> Enum.uniq()
        |> Enum.map(&:"#{name}@#{&1}")

      list when is_list(list) ->
        list |> Enum.map(&to_node/1) |> Enum.uniq()
    end
  end

  @spec host_part(node()) :: String.t()
  defp host_part(:nonode@nohost), do: short_hostname()

  defp host_part(node) do
    [_name, host] = node |> Atom.to_string() |> String.split("@", parts: 2)
    host
  end

  @spec short_hostname() :: String.t()
  defp short_hostname, do: hostname() |> String.split(".") |> hd()

  @spec to_node(node() | String.t()) :: node()
  defp to_node(node) when is_atom(node), do: node
  defp to_node(node) when is_binary(node), do: String.to_atom(node)

  @doc """
  Pings every candidate manager at once and returns what each said, in the order of
  `managers/1`: `%{node:, host: id | nil, ping: map | nil, error: nil | error}`.
  """
  @spec hosts(keyword()) :: [candidate()]
  def hosts(opts \\ []) do
    candidates = managers(opts)
    timeout_ms = opts[:ping_timeout_ms] || @default_ping_timeout_ms

    if cookie = opts[:cookie] || config(:cookie) do
      Enum.each(candidates, &Node.set_cookie(&1, to_cookie(cookie)))
    end

    candidates
    |> Task.async_stream(&ping_one(&1, timeout_ms),
      ordered: true,
      timeout: timeout_ms + 1_000,
      on_timeout: :kill_task,
      max_concurrency: max(length(candidates), 1)
    )
    |> Enum.zip(candidates)
    |> Enum.map(fn
      {{:ok, candidate}, _node} ->
        candidate

      {{:exit, reason}, node} ->
        {:error, error} =
          Error.new(:timeout, "no answer to :ping from #{node}: #{inspect(reason)}", nil, %{
            node: node
          })

        %{node: node, host: nil, ping: nil, error: error}
    end)
  end

  @spec ping_one(node(), pos_integer()) :: candidate()
  defp ping_one(node, timeout_ms) do
    case SnakepitShm.ping(node, timeout_ms: timeout_ms) do
      {:ok, %{host: %{id: id}} = ping} when is_binary(id) ->
        %{node: node, host: id, ping: ping, error: nil}

      {:ok, ping} ->
        {:error, error} =
          Error.new(
            :invalid_request,
            "#{node} reports no host identity in :ping (a manager older than scale-out?)",
            "upgrade the manager on that host",
            %{node: node}
          )

        %{node: node, host: nil, ping: ping, error: error}

      {:error, error} ->
        %{node: node, host: nil, ping: nil, error: error}
    end
  end

  @spec to_cookie(atom() | String.t()) :: atom()
  defp to_cookie(cookie) when is_atom(cookie), do: cookie
  defp to_cookie(cookie) when is_binary(cookie), do: String.to_atom(cookie)

  @doc """
  The manager of this host: the first candidate (see `managers/1`) whose `:ping` reports
  this BEAM's host id (`host_id/1`). The choice is remembered (`:persistent_term`) and
  used again while that manager is connected and still a candidate; `refresh: true`
  pings again.

  Returns `{:ok, node}`, or `{:error, %SnakepitShm.Error{code: :not_found, details:
  %{reason: :no_local_manager, host: id, candidates: [...]}}}` naming what every
  candidate answered.
  """
  @spec local_manager(keyword()) :: {:ok, node()} | {:error, Error.t()}
  def local_manager(opts \\ []) do
    with {:ok, %{id: local}} <- identity(opts) do
      manager_of(local, opts, :no_local_manager)
    end
  end

  @doc """
  The manager of host `host_id` among the candidates (like `local_manager/1`, for any
  host); `{:error, ... reason: :no_manager_for_host ...}` when none reports it.
  """
  @spec manager_for_host(host_id(), keyword()) :: {:ok, node()} | {:error, Error.t()}
  def manager_for_host(host_id, opts \\ []) when is_binary(host_id) do
    with {:ok, %{id: local}} <- identity(opts) do
      manager_of(
        host_id,
        opts,
        if(host_id == local, do: :no_local_manager, else: :no_manager_for_host)
      )
    end
  end

  @doc "Forgets every remembered choice of `local_manager/1` and `manager_for_host/2`."
  @spec forget() :: :ok
  def forget do
    for {{__MODULE__, :manager, _host} = key, _node} <- :persistent_term.get() do
      :persistent_term.erase(key)
    end

    :ok
  end

  @spec manager_of(host_id(), keyword(), atom()) :: {:ok, node()} | {:error, Error.t()}
  defp manager_of(host, opts, reason) do
    key = {__MODULE__, :manager, host}
    candidates = managers(opts)
    remembered = :persistent_term.get(key, nil)

    if opts[:refresh] != true and remembered != nil and remembered in candidates and
         remembered in :erlang.nodes(:connected) do
      {:ok, remembered}
    else
      answers = hosts(opts)

      case Enum.find(answers, &(&1.host == host)) do
        %{node: node} ->
          if remembered != node, do: :persistent_term.put(key, node)
          {:ok, node}

        nil ->
          no_manager(host, answers, reason)
      end
    end
  end

  @spec no_manager(host_id(), [candidate()], atom()) :: {:error, Error.t()}
  defp no_manager(host, answers, reason) do
    seen =
      case answers do
        [] -> "there are no candidates"
        _ -> "candidates: " <> Enum.map_join(answers, "; ", &describe/1)
      end

    what = if reason == :no_local_manager, do: "this BEAM's host", else: "host"

    Error.new(
      :not_found,
      "no snakepit-shm manager of #{what} #{host} answered (#{seen})",
      "run one manager per host and list it (the :managers option or config " <>
        ":snakepit_shm, SnakepitShm.Cluster, managers: [...]), or name it " <>
        "#{@default_manager_name}@<host>; check that the manager and this BEAM agree on " <>
        "the host id (#{@env_var}, --host-id)",
      %{
        reason: reason,
        host: host,
        candidates: Enum.map(answers, &Map.take(&1, [:node, :host]))
      }
    )
  end

  @spec describe(candidate()) :: String.t()
  defp describe(%{node: node, host: host}) when is_binary(host), do: "#{node} is host #{host}"

  defp describe(%{node: node, error: error}),
    do: "#{node}: #{error.code} (#{String.slice(error.message, 0, 80)})"

  # ---------------------------------------------------------------------------------
  # Descriptors of other hosts
  # ---------------------------------------------------------------------------------

  @doc """
  Whether `descriptor` was made by a manager of this host (`host_id/1`).
  """
  @spec local?(SnakepitShm.descriptor(), keyword()) :: boolean()
  def local?(descriptor, opts \\ []), do: ensure_local(descriptor, opts) == :ok

  @doc """
  `:ok` when `descriptor` was made on this host, so its `path` can be mapped here;
  otherwise `{:error, %SnakepitShm.Error{code: :not_found, details: %{reason:
  :other_host, id:, host:, local_host:}}}`: the region exists, but not in this host's
  shared memory. A descriptor without `host` (from a manager older than scale-out) is
  `:invalid_request`.
  """
  @spec ensure_local(SnakepitShm.descriptor(), keyword()) :: :ok | {:error, Error.t()}
  def ensure_local(descriptor, opts \\ [])

  def ensure_local(%{id: id, host: host}, opts) when is_binary(host) do
    with {:ok, %{id: local}} <- identity(opts) do
      if host == local do
        :ok
      else
        Error.new(
          :not_found,
          "region #{id} lives in the shared memory of host #{host}; this BEAM is on host " <>
            "#{local}, where its segment cannot be mapped",
          "send the work to a BEAM on host #{host}, or copy the region here with " <>
            "SnakepitShm.Cluster.copy_to_local/2",
          %{reason: :other_host, id: id, host: host, local_host: local}
        )
      end
    end
  end

  def ensure_local(%{id: id} = descriptor, _opts) when is_binary(id) do
    Error.new(
      :invalid_request,
      "descriptor of region #{id} carries no host (keys: #{inspect(Map.keys(descriptor))})",
      "use a descriptor from a snakepit-shm manager that reports its host (docs/SCALE_OUT.md)",
      %{id: id}
    )
  end

  def ensure_local(other, _opts) do
    Error.new(
      :invalid_request,
      "not a region descriptor: #{inspect(other, limit: 10)}",
      "pass the descriptor map returned by SnakepitShm.allocate/3 or acquire/3"
    )
  end

  @doc """
  Takes a reference to `descriptor`'s region at this host's manager, after
  `ensure_local/2`: a descriptor of another host gets the `:other_host` error instead of
  the manager's bare `:not_found ... :unknown`. Options: those of this module and of
  `SnakepitShm.acquire/3`. Returns `{:ok, descriptor}`.
  """
  @spec acquire(SnakepitShm.descriptor(), keyword()) ::
          {:ok, SnakepitShm.descriptor()} | {:error, Error.t()}
  def acquire(descriptor, opts \\ []) do
    with :ok <- ensure_local(descriptor, opts),
         {:ok, manager} <- local_manager(opts) do
      SnakepitShm.acquire(manager, descriptor, Keyword.drop(opts, @cluster_keys))
    end
  end

  @doc """
  Copies the region of `descriptor`, made on another host, into a new region of this
  host's manager and returns the new descriptor; the caller holds one reference to it
  (release it at the local manager, `local_manager/1`).

  Steps: find the owning manager (`:from`, else the candidate whose host is the
  descriptor's `host`); acquire the region there with the descriptor's token (so it
  cannot go away during the copy); allocate `size` bytes at the local manager (`:to`,
  else `local_manager/1`); read the payload in chunks of at most 64 MiB with the owner's
  consistent `read` over distribution, the next chunk in flight while the last one is
  written into the new region's file; release the owner's reference. On any failure the
  new region is released (so deallocated) and the remote reference dropped; the error
  has `details.step` (`:find_owner`, `:find_local`, `:acquire_remote`, `:allocate_local`,
  `:read_remote`, `:write_local`).

  Each chunk is one consistent snapshot; the whole copy is one only when nobody writes the
  region meanwhile (the usual hand-off: the producer sends the descriptor after writing).

  A descriptor of this host is not copied: it is acquired at its owner (`:from`, else the
  local manager) and returned, so that in both cases the caller holds one reference.

  Options (besides this module's):

    * `:from`, `:to` — the owning and the local manager;
    * `:chunk_bytes` — bytes per remote read, 1 to 64 MiB (default 16 MiB);
    * `:tenant` — the region's tenant, for the owner's checks; the copy gets it too;
    * `:session` (default: the descriptor's), `:label`, `:ttl_ms`, `:sensitive` — for
      the new region;
    * `:timeout_ms` — per call (default 30000).

  Emits `[:snakepit, :shm, :cluster, :copy]` with `%{bytes, duration (native), chunks}`
  and metadata `%{id, new_id, from, to, host, local_host}`.
  """
  @spec copy_to_local(SnakepitShm.descriptor(), keyword()) ::
          {:ok, SnakepitShm.descriptor()} | {:error, Error.t()}
  def copy_to_local(descriptor, opts \\ []) do
    with :ok <- check_copy_opts(opts),
         :ok <- check_copy_descriptor(descriptor),
         {:ok, %{id: local}} <- identity(opts) do
      case ensure_local(descriptor, opts) do
        :ok -> acquire_here(descriptor, opts)
        {:error, %{details: %{reason: :other_host}}} -> copy_remote(descriptor, local, opts)
        {:error, _} = error -> error
      end
    end
  end

  @spec acquire_here(SnakepitShm.descriptor(), keyword()) ::
          {:ok, SnakepitShm.descriptor()} | {:error, Error.t()}
  defp acquire_here(descriptor, opts) do
    with {:ok, owner} <-
           step(:find_local, fn -> opts[:from] |> ok_or(fn -> local_manager(opts) end) end) do
      step(:acquire_remote, fn -> SnakepitShm.acquire(owner, descriptor, remote_opts(opts)) end)
    end
  end

  @spec copy_remote(SnakepitShm.descriptor(), host_id(), keyword()) ::
          {:ok, SnakepitShm.descriptor()} | {:error, Error.t()}
  defp copy_remote(descriptor, local, opts) do
    started = System.monotonic_time()

    with {:ok, from} <-
           step(:find_owner, fn ->
             ok_or(opts[:from], fn -> manager_for_host(descriptor.host, opts) end)
           end),
         {:ok, to} <-
           step(:find_local, fn -> ok_or(opts[:to], fn -> local_manager(opts) end) end),
         {:ok, _held} <-
           step(:acquire_remote, fn ->
             SnakepitShm.acquire(from, descriptor, remote_opts(opts))
           end) do
      result =
        try do
          with {:ok, copy} <-
                 step(:allocate_local, fn ->
                   SnakepitShm.allocate(to, descriptor.size, allocate_opts(descriptor, opts))
                 end) do
            case copy_chunks(from, descriptor, copy, opts) do
              {:ok, chunks} ->
                {:ok, copy, chunks}

              {:error, _} = error ->
                _ = SnakepitShm.release(to, copy.id, release_opts(opts))
                error
            end
          end
        after
          _ = SnakepitShm.release(from, descriptor.id, release_opts(opts))
        end

      case result do
        {:ok, copy, chunks} ->
          Telemetry.execute(
            [:snakepit, :shm, :cluster, :copy],
            %{
              bytes: descriptor.size,
              duration: System.monotonic_time() - started,
              chunks: chunks
            },
            %{
              id: descriptor.id,
              new_id: copy.id,
              from: from,
              to: to,
              host: descriptor.host,
              local_host: local
            }
          )

          {:ok, copy}

        {:error, _} = error ->
          error
      end
    end
  end

  # Reads chunk n+1 from the owner while chunk n is written here.
  @spec copy_chunks(node(), SnakepitShm.descriptor(), SnakepitShm.descriptor(), keyword()) ::
          {:ok, non_neg_integer()} | {:error, Error.t()}
  defp copy_chunks(from, descriptor, copy, opts) do
    chunk = opts[:chunk_bytes] || @default_chunk_bytes

    ranges =
      for offset <- 0..(descriptor.size - 1)//chunk,
          do: {offset, min(chunk, descriptor.size - offset)}

    read_opts = Keyword.put(remote_opts(opts), :holder, self())

    read = fn {offset, length} ->
      SnakepitShm.read_consistent(from, descriptor.id, offset, length, read_opts)
    end

    [first | rest] = ranges
    pump(Task.async(fn -> read.(first) end), first, rest, read, copy, 0)
  end

  @spec pump(
          Task.t(),
          {non_neg_integer(), pos_integer()},
          list(),
          function(),
          map(),
          non_neg_integer()
        ) ::
          {:ok, non_neg_integer()} | {:error, Error.t()}
  defp pump(task, {offset, _length}, rest, read, copy, done) do
    case Task.await(task, :infinity) do
      {:ok, bytes} ->
        next =
          case rest do
            [range | more] -> {Task.async(fn -> read.(range) end), range, more}
            [] -> nil
          end

        case step(:write_local, fn -> SnakepitShm.write(copy, offset, bytes) end) do
          :ok ->
            case next do
              nil -> {:ok, done + 1}
              {next_task, range, more} -> pump(next_task, range, more, read, copy, done + 1)
            end

          {:error, _} = error ->
            if next, do: Task.shutdown(elem(next, 0), :brutal_kill)
            error
        end

      {:error, error} ->
        {:error, with_step(error, :read_remote)}
    end
  end

  @spec check_copy_opts(keyword()) :: :ok | {:error, Error.t()}
  defp check_copy_opts(opts) do
    cond do
      not Keyword.keyword?(opts) ->
        Error.new(
          :invalid_request,
          "copy_to_local options must be a keyword list, not #{inspect(opts)}"
        )

      unknown = Enum.find(Keyword.keys(opts), &(&1 not in @cluster_keys and &1 not in @copy_keys)) ->
        Error.new(
          :invalid_request,
          "unknown option #{inspect(unknown)} for SnakepitShm.Cluster.copy_to_local/2",
          "accepted: #{inspect(@cluster_keys ++ @copy_keys)}",
          %{key: unknown}
        )

      (chunk = opts[:chunk_bytes]) != nil and
          not (is_integer(chunk) and chunk >= 1 and chunk <= @max_chunk_bytes) ->
        Error.new(
          :invalid_request,
          "chunk_bytes must be an integer from 1 to #{@max_chunk_bytes} (the node's largest read), " <>
            "got #{inspect(chunk)}",
          nil,
          %{key: :chunk_bytes}
        )

      true ->
        :ok
    end
  end

  # What a copy needs of the descriptor besides what ensure_local/2 checks.
  @spec check_copy_descriptor(term()) :: :ok | {:error, Error.t()}
  defp check_copy_descriptor(%{size: size, token: token})
       when is_integer(size) and size > 0 and is_binary(token),
       do: :ok

  defp check_copy_descriptor(%{id: _} = descriptor) when is_map(descriptor) do
    Error.new(
      :invalid_request,
      "copy_to_local needs the descriptor's size (a positive integer) and token, got " <>
        inspect(Map.take(descriptor, [:id, :size, :token])),
      "pass the descriptor map exactly as the owning manager returned it"
    )
  end

  # ensure_local/2 names what is wrong with anything else.
  defp check_copy_descriptor(_other), do: :ok

  @spec remote_opts(keyword()) :: keyword()
  defp remote_opts(opts) do
    [timeout_ms: opts[:timeout_ms] || @default_copy_timeout_ms] ++
      if(opts[:tenant], do: [tenant: opts[:tenant]], else: [])
  end

  @spec release_opts(keyword()) :: keyword()
  defp release_opts(opts), do: remote_opts(opts)

  @spec allocate_opts(SnakepitShm.descriptor(), keyword()) :: keyword()
  defp allocate_opts(descriptor, opts) do
    session = Keyword.get(opts, :session, Map.get(descriptor, :session))

    [session: session, label: opts[:label], ttl_ms: opts[:ttl_ms], sensitive: opts[:sensitive]]
    |> Enum.reject(fn {_key, value} -> value == nil end)
    |> Kernel.++(remote_opts(opts))
  end

  @spec ok_or(node() | nil, (() -> {:ok, node()} | {:error, Error.t()})) ::
          {:ok, node()} | {:error, Error.t()}
  defp ok_or(nil, fun), do: fun.()
  defp ok_or(node, _fun) when is_atom(node), do: {:ok, node}

  # Runs one step; an error gets details.step.
  @spec step(atom(), (() -> result)) :: result when result: term()
  defp step(name, fun) do
    case fun.() do
      {:error, error} -> {:error, with_step(error, name)}
      other -> other
    end
  end

  @spec with_step(term(), atom()) :: term()
  defp with_step(%Error{details: details} = error, name),
    do: %Error{error | details: Map.put_new(details, :step, name)}

  defp with_step(%{} = error, name), do: Map.put_new(error, :step, name)
  defp with_step(error, _name), do: error
end
