defmodule SnakepitShm.Error do
  @moduledoc """
  The error every `SnakepitShm` function returns: `{:error, %SnakepitShm.Error{}}`.

      {:error, %SnakepitShm.Error{
         code: :not_found,
         message: "region 00000000deadbeef is not known ...",
         remediation: "...",
         details: %{id: "00000000deadbeef", reason: :unknown}
       }}

    * `code` — one of the contract's codes (CONTRACT section 4, table below);
    * `message` — what went wrong, for a human;
    * `remediation` — what to do about it, or `nil`;
    * `details` — every other key of the node's error map (`reason`, `limit_name`,
      `limit`, `requested`, `index`, `id`, `queued`, ...) or of the client's
      (`node`, `timeout_ms`, ...), as a map. Empty when there are none.

  The node's errors (maps, PROTOCOL.md) are turned into this struct in one place,
  `SnakepitShm.Call`, so errors from the node, from the connection and from the
  client's own checks have the same shape. The struct is a map, so `{:error, %{code:
  :busy}}` patterns keep matching; the detail keys are under `details`:

      case SnakepitShm.info(server, id) do
        {:ok, info} -> info
        {:error, %{code: :not_found, details: %{reason: :nodedown}}} -> :node_down
        {:error, %{code: :not_found}} -> :gone
        {:error, error} -> raise error
      end

  It is an exception too: `raise error` shows `code`, `message` and `remediation`,
  and `unwrap!/1` turns a reply into its value or raises.

  ## Codes

  | code | from | meaning | typical `details` |
  |---|---|---|---|
  | `:invalid_request` | node, client | malformed request, unknown option key or value, bad argument (checked in the client before anything is sent: options that are not a keyword list or map, a bad `timeout_ms`, a server that is not a node name, a payload offset out of bounds, data that is not iodata) | `key`, `index` |
  | `:not_found` | node | the region id is not known: `reason` `:freed` (ended in this run), `:stale_generation` (a descriptor of an earlier run), `:unknown` | `id`, `reason` |
  | `:not_found` | client | the node is not reachable (not running, wrong cookie, connection dropped), or a `SnakepitShm.Manager` has no node up right now | `reason: :nodedown`, `node`; from `connect/2` also `epmd`; from a manager `manager`, `status`, `retry_in_ms` |
  | `:forbidden` | node, client | a holder, token, tenant, operator key or access mode that does not allow the call (`write/3` of a `:read_only` descriptor is refused in the client) | `id` |
  | `:limit_exceeded` | node | a configured limit (`max_total_bytes`, `max_regions`, `max_tenant_bytes`, ...) would be exceeded | `limit_name`, `limit`, `current`, `requested`, `waited_ms` |
  | `:no_space` | node | the shm dir (tmpfs) has no room for the segment | `requested`, `errno`, `call` |
  | `:invalid_region` | node | the region is isolated (corrupt header) or torn by a writer that died mid-write | `id` |
  | `:timeout` | node | `wait_ms` passed while a consistent write or read waited for the region's lock | `id` |
  | `:timeout` | client | no reply within `timeout_ms` (the node may still have carried out the request) | `node`, `timeout_ms` |
  | `:platform_error` | node | an OS call failed (mmap, fallocate, unlink, ...) | `errno`, `call`, `strerror` |
  | `:platform_error` | client | the call failed for another reason (an unexpected exit of `GenServer.call`, a node reply that is not a contract reply, a payload file that could not be opened, a node process that would not start) | `node`, `reason` |
  | `:busy` | node | too many calls queued at the node (`max_mailbox_messages`); retry later | `queued`, `limit` |

  The Python side (`python_demo`) raises typed exceptions with the same codes.
  """

  @typedoc "The error codes of the contract."
  @type code ::
          :invalid_request
          | :not_found
          | :forbidden
          | :limit_exceeded
          | :no_space
          | :invalid_region
          | :timeout
          | :platform_error
          | :busy

  @typedoc "An error: `code`, `message`, `remediation` and the other keys in `details`."
  @type t :: %__MODULE__{
          code: atom(),
          message: String.t(),
          remediation: String.t() | nil,
          details: map()
        }

  @enforce_keys [:code, :message]
  defexception code: nil, message: nil, remediation: nil, details: %{}

  @codes [
    :invalid_request,
    :not_found,
    :forbidden,
    :limit_exceeded,
    :no_space,
    :invalid_region,
    :timeout,
    :platform_error,
    :busy
  ]

  @fields [:code, :message, :remediation]

  @doc "The error codes of the contract, in its order."
  @spec codes() :: [code()]
  def codes, do: @codes

  @doc """
  Builds `{:error, %SnakepitShm.Error{}}` with `code`, `message`, `remediation` and
  `details` (keys `code`, `message` and `remediation` in `details` are dropped).

      iex> SnakepitShm.Error.new(:busy, "try later")
      {:error, %SnakepitShm.Error{code: :busy, message: "try later", remediation: nil, details: %{}}}
  """
  @spec new(atom(), String.t(), String.t() | nil, map()) :: {:error, t()}
  def new(code, message, remediation \\ nil, details \\ %{})
      when is_atom(code) and is_binary(message) and is_map(details) do
    {:error,
     %__MODULE__{
       code: code,
       message: message,
       remediation: remediation(remediation),
       details: Map.drop(details, @fields)
     }}
  end

  @doc """
  Turns an error map as the node sends it (`%{code: atom, message: binary,
  remediation: binary | nil, ...}`) into the struct: the other keys go to `details`. A
  struct is returned unchanged; anything else becomes a `:platform_error` whose details
  keep it as `reply`.

      iex> SnakepitShm.Error.from_map(%{code: :not_found, message: "gone", remediation: nil, reason: :freed})
      %SnakepitShm.Error{code: :not_found, message: "gone", remediation: nil, details: %{reason: :freed}}
  """
  @spec from_map(term()) :: t()
  def from_map(%__MODULE__{} = error), do: error

  def from_map(%{code: code} = map) when is_atom(code) and code != nil do
    %__MODULE__{
      code: code,
      message: text(Map.get(map, :message), code),
      remediation: remediation(Map.get(map, :remediation)),
      details: Map.drop(map, @fields)
    }
  end

  def from_map(other) do
    %__MODULE__{
      code: :platform_error,
      message:
        "the snakepit-shm node sent an error this client does not understand: " <>
          inspect(other, limit: 20),
      remediation: "check that the node and this client are of the same version",
      details: %{reply: other}
    }
  end

  @doc """
  The value of a reply, or raises its error: `{:ok, value}` gives `value`, `:ok` gives
  `:ok`, `{:error, %SnakepitShm.Error{}}` raises it. Meant for bang variants:

      descriptor = SnakepitShm.Error.unwrap!(SnakepitShm.allocate(server, 4096))
  """
  @spec unwrap!(:ok | {:ok, value} | {:error, t()}) :: value | :ok when value: term()
  def unwrap!(:ok), do: :ok
  def unwrap!({:ok, value}), do: value
  def unwrap!({:error, %__MODULE__{} = error}), do: raise(error)
  def unwrap!({:error, other}), do: raise(from_map(other))

  @doc """
  The exception's text: `"<code>: <message>"`, then the remediation on its own line when
  there is one.

      iex> Exception.message(%SnakepitShm.Error{code: :busy, message: "queue full", remediation: "retry later"})
      "busy: queue full\\nremediation: retry later"
  """
  @impl Exception
  @spec message(t()) :: String.t()
  def message(%__MODULE__{code: code, message: message, remediation: remediation}) do
    text = "#{code}: #{message}"
    if is_binary(remediation), do: text <> "\nremediation: " <> remediation, else: text
  end

  @spec text(term(), atom()) :: String.t()
  defp text(message, _code) when is_binary(message), do: message
  defp text(nil, code), do: "snakepit-shm error #{code}"
  defp text(other, _code), do: inspect(other)

  @spec remediation(term()) :: String.t() | nil
  defp remediation(remediation) when is_binary(remediation), do: remediation
  defp remediation(nil), do: nil
  defp remediation(other), do: inspect(other)
end
