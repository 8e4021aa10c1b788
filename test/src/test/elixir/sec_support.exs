# Helpers of the security scenario scripts (SecurityIT), on top of support.exs.
Code.require_file("support.exs", __DIR__)

defmodule Sec do
  @kinds ~w(tenant_denied not_holder read_only_write bad_token bad_operator_key freed_region
            freed_id stale_generation unknown_id shm_dir)a

  @doc "Every security event kind; stats.security has each as a key."
  @spec kinds() :: [atom()]
  def kinds, do: @kinds

  @doc """
  What a reply amounts to, as one word: `ok`, the error code, or `not_found:REASON` for a
  :not_found that carries a reason.
  """
  @spec outcome(term()) :: String.t()
  def outcome(:ok), do: "ok"
  def outcome({:ok, _}), do: "ok"
  def outcome({:error, %{code: :not_found, reason: reason}}), do: "not_found:#{reason}"
  def outcome({:error, %{code: code}}), do: Atom.to_string(code)
  def outcome(other), do: "unexpected:#{inspect(other, limit: 10)}"

  @doc """
  Runs one attack: sends `request`, prints `ATTACK_NAME=outcome` and fails the scenario
  unless the outcome is `expected`. Returns the reply.
  """
  @spec attack!(node(), String.t(), term(), String.t()) :: term()
  def attack!(node, name, request, expected) do
    reply = E2E.call(node, request)
    got = outcome(reply)
    E2E.emit("ATTACK_#{name}", got)

    E2E.check!(
      got == expected,
      "attack #{name}: #{inspect(request, limit: 20)} replied #{inspect(reply)}, " <>
        "expected #{expected}"
    )

    reply
  end

  @doc "Prints SEC_KIND=count for every kind of stats.security, and SEC_TOTAL."
  @spec emit_counts(node()) :: map()
  def emit_counts(node) do
    counts = E2E.ok!(node, :stats).security

    E2E.check!(
      Enum.sort(Map.keys(counts)) == Enum.sort(@kinds),
      "stats.security keys #{inspect(Map.keys(counts))}, expected #{inspect(@kinds)}"
    )

    for kind <- @kinds, do: E2E.emit("SEC_#{kind}", Map.fetch!(counts, kind))
    E2E.emit("SEC_TOTAL", counts |> Map.values() |> Enum.sum())
    counts
  end

  @doc "A random token: 32 lowercase hex digits, like a real one."
  @spec random_token() :: String.t()
  def random_token, do: :crypto.strong_rand_bytes(16) |> Base.encode16(case: :lower)

  @doc "The ids of `{:list, filter}` (which must succeed), sorted."
  @spec listed_ids(node(), map()) :: [String.t()]
  def listed_ids(node, filter), do: E2E.ok!(node, {:list, filter}) |> Enum.map(& &1.id) |> Enum.sort()

  @doc "Fails the scenario if `text` contains `secret` (a token, a key)."
  @spec refute_contains!(String.t(), String.t(), String.t()) :: :ok
  def refute_contains!(text, secret, where) do
    E2E.check!(not String.contains?(text, secret), "#{where} shows the secret #{secret}")
  end
end
