# Decides, from docs/PROTOCOL.md and what the fuzzer knows of the node (its canary region
# and its security settings), whether a request is surely malformed or surely refused.
#
# `verdict/2` returns :invalid when the request breaks the protocol's grammar (wrong
# shape, arity, type, unknown key, out-of-range integer, ...): the node must answer it
# with an error. It returns :forbidden for a well-formed request the node must refuse
# with :forbidden: an acquire of the canary without its capability token (none, when
# tokens are required, or a wrong one), or an operator_key given to a node that has none.
# Otherwise :maybe_valid: the request is well formed (it may still fail, e.g. :not_found
# for an unknown id), so any well-shaped reply is accepted. The oracle is conservative:
# when in doubt it says :maybe_valid.
defmodule Fuzz.Oracle do
  @max_long 2 ** 63 - 1
  @max_batch 10_000
  @max_text_bytes 1024
  @allocate_keys [:holder, :session, :tenant, :sensitive, :ttl_ms, :label, :access]
  @acquire_keys [:holder, :access, :tenant, :token]
  @info_keys [:tenant, :operator_key]
  @release_keys [:holder, :tenant]
  @list_keys [:session, :tenant, :label, :holder, :limit, :operator_key]

  @typedoc "What the node must answer."
  @type verdict :: :invalid | :forbidden | :maybe_valid

  @typedoc """
  What the oracle knows of the node: its configuration keys, the highest OS pid that may
  run (/proc/sys/kernel/pid_max), the canary region (id, token; it has no tenant),
  whether acquire needs a token and whether the node has an operator key.
  """
  @type context :: %{
          config_keys: [atom()],
          max_os_pid: pos_integer(),
          canary_id: String.t(),
          canary_token: String.t(),
          token_required: boolean(),
          operator_key: boolean()
        }

  @doc """
  The context for a node whose configuration is `config` (`{:config, :get}`) and whose
  health is `health` (`:health`), with the canary region `canary` (a descriptor).
  """
  @spec context(map(), pos_integer(), map(), map()) :: context()
  def context(config, max_os_pid, canary, health) do
    %{
      config_keys: config |> Map.keys() |> Enum.sort(),
      max_os_pid: max_os_pid,
      canary_id: canary.id,
      canary_token: canary.token,
      token_required: config.acquire_token == :required,
      operator_key: health.security.operator_key
    }
  end

  @doc "The verdict on `request`."
  @spec verdict(term(), context()) :: verdict()
  def verdict(request, context) do
    cond do
      not valid?(request, context.config_keys, context.max_os_pid) -> :invalid
      forbidden?(request, context) -> :forbidden
      true -> :maybe_valid
    end
  end

  # Well formed but surely refused. The node checks the whole grammar first, then an
  # operator key (info, list) before it looks the id up, then a region's tenant (the
  # canary has none) and then the token (acquire).
  defp forbidden?({:acquire, id, opts}, %{canary_id: id} = context) do
    token = option(opts, :token)

    # An {:os_pid, n} holder that does not run is :invalid_request before the token is
    # looked at; the oracle cannot know whether n runs.
    not match?({:os_pid, _}, option(opts, :holder)) and token != context.canary_token and
      (token != nil or context.token_required)
  end

  defp forbidden?({:info, _id, opts}, context), do: operator_key_refused?(opts, context)
  defp forbidden?({:list, filter}, context), do: operator_key_refused?(filter, context)
  defp forbidden?(_request, _context), do: false

  # Any operator key is refused by a node that has none (one that has one refuses a wrong
  # key, which the oracle cannot tell from the right one).
  defp operator_key_refused?(opts, context),
    do: option(opts, :operator_key) != nil and not context.operator_key

  # The value of a (well-formed) option; in a keyword list its first occurrence.
  defp option(opts, key) when is_map(opts), do: Map.get(opts, key)

  defp option(opts, key) when is_list(opts) do
    case List.keyfind(opts, key, 0) do
      {^key, value} -> value
      nil -> nil
    end
  end

  defp valid?(request, _keys, _max) when request in [:stats, :health, :gc, :ping], do: true
  defp valid?({:config, :get}, _keys, _max), do: true

  defp valid?({:config, {:set, changes}}, keys, _max) when is_map(changes) do
    # The node takes integers (as 64-bit longs) and atoms; anything else is rejected.
    Enum.all?(changes, fn {key, value} ->
      is_atom(key) and key in keys and (long?(value, 0) or is_atom(value))
    end)
  end

  defp valid?({:allocate, size, opts}, _keys, max), do: size?(size) and opts?(opts, @allocate_keys, max)

  defp valid?({:allocate_many, sizes, opts}, _keys, max),
    do: batch?(sizes, &size?/1) and opts?(opts, @allocate_keys, max)

  defp valid?({:acquire, id, opts}, _keys, max), do: id?(id) and opts?(opts, @acquire_keys, max)
  defp valid?({:release, id, opts}, _keys, max), do: id?(id) and opts?(opts, @release_keys, max)

  defp valid?({:release_many, ids, opts}, _keys, max),
    do: batch?(ids, &id?/1) and opts?(opts, @release_keys, max)

  defp valid?({:free, id}, _keys, _max), do: id?(id)
  defp valid?({:free, id, opts}, _keys, max), do: id?(id) and opts?(opts, @release_keys, max)
  defp valid?({:info, id}, _keys, _max), do: id?(id)
  defp valid?({:info, id, opts}, _keys, max), do: id?(id) and opts?(opts, @info_keys, max)
  # A list filter's os_pid need not run (it only selects).
  defp valid?({:list, filter}, _keys, _max), do: opts?(filter, @list_keys, 2 ** 31 - 1)
  defp valid?({:release_session, session}, _keys, _max), do: text?(session) and session != nil
  defp valid?(_request, _keys, _max), do: false

  @doc "True when `request` names region `id` anywhere at its top two levels."
  @spec names?(term(), String.t()) :: boolean()
  def names?(request, id) when is_tuple(request) do
    request
    |> Tuple.to_list()
    |> Enum.any?(fn
      ^id -> true
      list when is_list(list) -> proper?(list) and id in list
      _ -> false
    end)
  end

  def names?(_request, _id), do: false

  # Options: a map or a proper keyword list of allowed atom keys. In a keyword list the
  # first occurrence of a key counts (as Keyword.get/2 and the node do).
  defp opts?(opts, allowed, max_os_pid) when is_map(opts) do
    Enum.all?(opts, fn {key, value} -> option?(key, value, allowed, max_os_pid) end)
  end

  defp opts?(opts, allowed, max_os_pid) when is_list(opts) do
    proper?(opts) and
      opts
      |> Enum.reduce_while(MapSet.new(), fn
        {key, value}, seen ->
          cond do
            not (is_atom(key) and key in allowed) -> {:halt, :invalid}
            MapSet.member?(seen, key) -> {:cont, seen}
            option?(key, value, allowed, max_os_pid) -> {:cont, MapSet.put(seen, key)}
            true -> {:halt, :invalid}
          end

        _other, _seen ->
          {:halt, :invalid}
      end)
      |> Kernel.!=(:invalid)
  end

  defp opts?(_opts, _allowed, _max_os_pid), do: false

  defp option?(key, value, allowed, max_os_pid) do
    is_atom(key) and key in allowed and value?(key, value, max_os_pid)
  end

  defp value?(:holder, value, _max) when is_pid(value), do: true

  defp value?(:holder, {:os_pid, n}, max_os_pid) when is_integer(n),
    do: n > 0 and n <= max_os_pid

  defp value?(:holder, _value, _max), do: false
  defp value?(key, value, _max) when key in [:session, :tenant, :label, :token, :operator_key],
    do: text?(value)

  defp value?(:sensitive, value, _max), do: is_boolean(value)
  defp value?(:access, value, _max), do: value in [:read_write, :read_only]
  defp value?(key, value, _max) when key in [:ttl_ms, :limit], do: value == nil or long?(value, 1)

  defp text?(nil), do: true

  defp text?(value),
    do: is_binary(value) and byte_size(value) <= @max_text_bytes and String.valid?(value)

  defp size?(value), do: long?(value, 1)
  defp long?(value, min), do: is_integer(value) and value >= min and value <= @max_long

  defp id?(value) when is_binary(value) and byte_size(value) == 16,
    do: for(<<c <- value>>, reduce: true, do: (ok -> ok and (c in ?0..?9 or c in ?a..?f)))

  defp id?(_value), do: false

  defp batch?(list, element?) when is_list(list) do
    proper?(list) and length(list) in 1..@max_batch and Enum.all?(list, element?)
  end

  defp batch?(_list, _element?), do: false

  defp proper?([]), do: true
  defp proper?([_ | tail]), do: proper?(tail)
  defp proper?(_), do: false
end
