# Decides, from docs/PROTOCOL.md alone, whether a request is surely malformed.
#
# `verdict/2` returns :invalid when the request breaks the protocol's grammar (wrong
# shape, arity, type, unknown key, out-of-range integer, ...): the node must answer it
# with an error. Otherwise :maybe_valid: the request is well formed (it may still fail,
# e.g. :not_found for an unknown id), so any well-shaped reply is accepted. The oracle is
# conservative: when in doubt it says :maybe_valid.
defmodule Fuzz.Oracle do
  @max_long 2 ** 63 - 1
  @max_batch 10_000
  @max_text_bytes 1024
  @allocate_keys [:holder, :session, :tenant, :sensitive, :ttl_ms, :label, :access]
  @acquire_keys [:holder, :access, :tenant]
  @release_keys [:holder, :tenant]
  @list_keys [:session, :tenant, :label, :holder, :limit]

  @typedoc "What the node must answer."
  @type verdict :: :invalid | :maybe_valid

  @doc """
  The verdict on `request`. `config_keys` are the node's configuration keys;
  `max_os_pid` the highest OS pid that may run (/proc/sys/kernel/pid_max).
  """
  @spec verdict(term(), [atom()], pos_integer()) :: verdict()
  def verdict(request, config_keys, max_os_pid) do
    if valid?(request, config_keys, max_os_pid), do: :maybe_valid, else: :invalid
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
  defp value?(key, value, _max) when key in [:session, :tenant, :label], do: text?(value)
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
