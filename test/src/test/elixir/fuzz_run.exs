# Sends fuzzer requests (fuzz_terms.exs) and judges each reply with the oracle
# (fuzz_oracle.exs), keeping a tally: kinds, replies by code, failures with samples, and
# the regions that well-formed requests happened to take, with their tenants (released
# by release_all/2).
defmodule Fuzz.Run do
  @moduledoc "Sends requests and tallies the replies."

  @call_timeout_ms 5_000
  @codes [:invalid_request, :not_found, :forbidden, :limit_exceeded, :no_space, :invalid_region,
          :timeout, :platform_error, :busy]
  @max_samples 15
  # A well-formed request that would allocate more than this is replaced (memory sanity).
  @max_valid_alloc_bytes 64 * 1024 * 1024
  @max_regenerations 50

  @doc "The empty tally."
  @spec tally() :: map()
  def tally do
    %{
      terms: 0,
      kinds: %{},
      codes: %{},
      invalid: 0,
      forbidden: 0,
      maybe_valid: 0,
      ok_replies: 0,
      rejected_well_formed: 0,
      timeouts: 0,
      bad: 0,
      internal: 0,
      samples: [],
      notes: [],
      allocated: [],
      max_call_us: 0,
      max_call_kind: nil
    }
  end

  @doc """
  Sends `count` random requests, plus the `heavy` ones spread among them; `oracle` is
  the oracle's context (Fuzz.Oracle.context/4).
  """
  @spec fuzz(node(), map(), map(), pos_integer(), [{atom(), term()}], Fuzz.Oracle.context()) :: map()
  def fuzz(node, pools, acc, count, heavy, oracle) do
    slots = length(heavy)

    scheduled =
      heavy
      |> Enum.with_index(1)
      |> Map.new(fn {request, k} -> {div(k * count, slots + 1), request} end)

    Enum.reduce(1..count, acc, fn i, acc ->
      {kind, request} = Map.get_lazy(scheduled, i, fn -> harmless(pools, oracle) end)
      send_one(node, acc, kind, request, oracle)
    end)
  end

  # A random request that cannot hurt the node's later use: a well-formed one that may
  # succeed must not change the configuration, allocate much, or touch the canary.
  defp harmless(pools, oracle, tries \\ 0) do
    {_kind, request} = candidate = Fuzz.Terms.request(pools)
    verdict = Fuzz.Oracle.verdict(request, oracle)

    cond do
      verdict in [:invalid, :forbidden] -> candidate
      tries >= @max_regenerations -> {:valid, :stats}
      harmful?(request, pools) -> harmless(pools, oracle, tries + 1)
      true -> candidate
    end
  end

  defp harmful?({:config, {:set, _}}, _pools), do: true
  defp harmful?({:allocate, size, _}, _pools), do: size > @max_valid_alloc_bytes
  defp harmful?({:allocate_many, sizes, _}, _pools), do: Enum.sum(sizes) > @max_valid_alloc_bytes
  defp harmful?(request, pools), do: Fuzz.Oracle.names?(request, pools.canary_id)

  defp send_one(node, acc, kind, request, oracle) do
    verdict = Fuzz.Oracle.verdict(request, oracle)
    started = System.monotonic_time(:microsecond)

    reply =
      try do
        {:reply, GenServer.call({:snakepit_shm, node}, request, @call_timeout_ms)}
      catch
        :exit, {:timeout, _} -> :timeout
        :exit, {{:nodedown, _}, _} -> E2E.fail!("the node went down on #{kind}: #{show(request)}")
        :exit, reason -> {:exit, reason}
      end

    elapsed_us = System.monotonic_time(:microsecond) - started

    acc =
      acc
      |> Map.update!(:terms, &(&1 + 1))
      |> Map.update!(:kinds, &Map.update(&1, kind, 1, fn n -> n + 1 end))
      |> Map.update!(verdict, &(&1 + 1))
      |> slowest(elapsed_us, kind)

    judge(acc, kind, request, verdict, reply)
  end

  defp slowest(acc, elapsed_us, kind) do
    if elapsed_us > acc.max_call_us,
      do: %{acc | max_call_us: elapsed_us, max_call_kind: kind},
      else: acc
  end

  defp judge(acc, kind, request, _verdict, :timeout) do
    acc |> Map.update!(:timeouts, &(&1 + 1)) |> sample("TIMEOUT", kind, request, :timeout)
  end

  defp judge(acc, kind, request, _verdict, {:exit, reason}) do
    acc |> bad() |> sample("EXIT", kind, request, reason)
  end

  defp judge(acc, kind, request, verdict, {:reply, {:error, error} = reply}) do
    error = if is_map(error), do: error, else: %{}
    code = Map.get(error, :code, :malformed_error)
    message = Map.get(error, :message)
    remediation = Map.get(error, :remediation, :missing)
    acc = acc |> count_code(code) |> rejected_well_formed(verdict, code, kind, request, reply)

    cond do
      verdict == :forbidden and code != :forbidden ->
        acc |> bad() |> sample("NOT_FORBIDDEN", kind, request, reply)

      not is_binary(message) ->
        acc |> bad() |> sample("BAD_ERROR_SHAPE", kind, request, reply)

      code not in @codes ->
        acc |> bad() |> sample("UNKNOWN_CODE", kind, request, reply)

      not (is_binary(remediation) or remediation == nil) ->
        acc |> bad() |> sample("BAD_REMEDIATION", kind, request, reply)

      String.starts_with?(message, "request could not be handled") ->
        acc
        |> Map.update!(:internal, &(&1 + 1))
        |> sample("INTERNAL", kind, request, {:message, message})

      true ->
        acc
    end
  end

  defp judge(acc, kind, request, :invalid, {:reply, reply}) do
    acc
    |> count_code(reply_code(reply))
    |> bad()
    |> sample("ACCEPTED_MALFORMED", kind, request, reply)
  end

  defp judge(acc, kind, request, :forbidden, {:reply, reply}) do
    acc
    |> count_code(reply_code(reply))
    |> bad()
    |> sample("ACCEPTED_FORBIDDEN", kind, request, reply)
  end

  defp judge(acc, kind, request, :maybe_valid, {:reply, reply}) do
    acc = count_code(acc, reply_code(reply))

    case reply do
      :ok -> ok(acc, [])
      {:ok, value} -> ok(acc, taken_ids(request, value))
      other -> acc |> bad() |> sample("BAD_REPLY", kind, request, other)
    end
  end

  # A well-formed request rejected as invalid: the oracle is too lenient or the node too
  # strict. Counted and shown (NOTE_I lines), not a failure.
  defp rejected_well_formed(acc, :maybe_valid, :invalid_request, kind, request, reply) do
    note = "#{kind}: #{show(request)} -> #{show(reply)}"
    notes = if length(acc.notes) < 5, do: [note | acc.notes], else: acc.notes
    %{acc | rejected_well_formed: acc.rejected_well_formed + 1, notes: notes}
  end

  defp rejected_well_formed(acc, _verdict, _code, _kind, _request, _reply), do: acc

  defp ok(acc, ids), do: %{acc | ok_replies: acc.ok_replies + 1, allocated: ids ++ acc.allocated}

  defp reply_code({:error, %{code: code}}), do: code
  defp reply_code(_reply), do: :ok

  # Regions a successful request gave a reference to (allocate, allocate_many, acquire),
  # as {id, tenant}: a region of a tenant is visible to its tenant only.
  defp taken_ids({call, _, _}, %{id: _} = desc) when call in [:allocate, :acquire], do: [taken(desc)]
  defp taken_ids({:allocate_many, _, _}, descriptors), do: Enum.map(descriptors, &taken/1)
  defp taken_ids(_request, _value), do: []

  defp taken(desc), do: {desc.id, desc.tenant}

  defp count_code(acc, code),
    do: Map.update!(acc, :codes, &Map.update(&1, code, 1, fn n -> n + 1 end))
  defp bad(acc), do: Map.update!(acc, :bad, &(&1 + 1))

  defp sample(acc, what, kind, request, reply) do
    if length(acc.samples) < @max_samples do
      line = "#{what} #{kind}: #{show(request)} -> #{show_reply(reply)}"
      Map.update!(acc, :samples, &[line | &1])
    else
      acc
    end
  end

  # An internal error's message is shown whole (up to 400 characters): it names the cause.
  defp show_reply({:message, text}), do: String.slice(text, 0, 400)
  defp show_reply(reply), do: show(reply)

  @doc "A short rendering of a term (bounded even for huge or deep terms)."
  @spec show(term()) :: String.t()
  def show(term),
    do: term |> inspect(limit: 8, printable_limit: 60, width: :infinity) |> String.slice(0, 300)

  @doc """
  Releases every reference the regions in `regions` (`{id, tenant}`) still have (with the
  region's tenant). Returns `{references_released, not_found_replies}`: ids already gone
  (a ttl ran out, the holder died) get a :not_found reply to {:info, id, %{tenant: t}},
  which the node counts.
  """
  @spec release_all(node(), [{String.t(), String.t() | nil}]) :: {non_neg_integer(), non_neg_integer()}
  def release_all(node, regions) do
    regions
    |> Enum.uniq()
    |> Enum.reduce({0, 0}, fn {id, tenant}, {released, not_found} ->
      case E2E.call(node, {:info, id, %{tenant: tenant}}) do
        {:ok, info} ->
          {released + release_holders(node, info), not_found}

        {:error, %{code: :not_found}} ->
          {released, not_found + 1}
      end
    end)
  end

  defp release_holders(node, info) do
    for %{holder: holder, refs: refs} <- info.holders, _ <- 1..refs, reduce: 0 do
      n ->
        reply = E2E.call(node, {:release, info.id, %{holder: holder, tenant: info.tenant}})
        E2E.check!(reply == :ok,
                   "cleanup release of #{info.id} for #{inspect(holder)}: #{inspect(reply)}")
        n + 1
    end
  end
end
