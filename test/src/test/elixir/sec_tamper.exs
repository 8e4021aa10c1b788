# Shm dir tampering (SecurityIT): takes commands on stdin, one per line, while the test
# changes files behind the node's back. Regions are held by the OS process OS_PID. Each
# answer ends with DONE=<command word>; EOF ends the script.
#
#   setup                       allocates a pooled (4096 bytes) and a dedicated (2 MiB + 1)
#                               region; prints POOLED_ID, POOLED_PATH, DEDICATED_ID,
#                               DEDICATED_PATH, HEALTH
#   await STATUS NEEDLE LIMIT   polls :health every 20 ms until its status is STATUS and
#                               (NEEDLE is "-": no shm dir problem; else: a problem contains
#                               NEEDLE); fails after LIMIT ms. Prints ELAPSED_MS, HEALTH,
#                               SECURITY_CHECK, SECURITY_DETAIL, PROBLEMS, PROBLEM_I,
#                               SEC_KIND=n
#   release ID                  releases OS_PID's reference and waits until ID is no longer
#                               listed (deallocated)
#
#   elixir ... sec_tamper.exs NODE OS_PID
Code.require_file("sec_support.exs", __DIR__)

defmodule Tamper do
  @doc "Serves commands until EOF."
  @spec loop(node(), tuple()) :: :ok
  def loop(node, holder) do
    case IO.gets("") do
      line when is_binary(line) ->
        line |> String.split() |> run(node, holder)
        loop(node, holder)

      _eof ->
        :ok
    end
  end

  defp run(["setup"], node, holder) do
    pooled = E2E.ok!(node, {:allocate, 4096, %{holder: holder, label: "sec-tamper-pooled"}})
    dedicated = E2E.ok!(node, {:allocate, 2 * 1024 * 1024 + 1, %{holder: holder, label: "sec-tamper-dedicated"}})
    E2E.check!(pooled.segment != dedicated.segment, "the regions share a segment")
    E2E.emit("POOLED_ID", pooled.id)
    E2E.emit("POOLED_PATH", pooled.path)
    E2E.emit("DEDICATED_ID", dedicated.id)
    E2E.emit("DEDICATED_PATH", dedicated.path)
    E2E.emit("HEALTH", E2E.ok!(node, :health).status)
    E2E.emit("DONE", "setup")
  end

  defp run(["await", status, needle, limit_ms], node, _holder) do
    started_ms = System.monotonic_time(:millisecond)
    health = await(node, String.to_atom(status), needle, started_ms, String.to_integer(limit_ms))
    E2E.emit("ELAPSED_MS", System.monotonic_time(:millisecond) - started_ms)
    E2E.emit("HEALTH", health.status)
    check = Enum.find(health.checks, &(&1.name == :security))
    E2E.emit("SECURITY_CHECK", check.status)
    E2E.emit("SECURITY_DETAIL", check.detail)
    problems = health.security.shm_dir_problems
    E2E.emit("PROBLEMS", length(problems))
    problems |> Enum.with_index() |> Enum.each(fn {p, i} -> E2E.emit("PROBLEM_#{i}", p) end)
    Sec.emit_counts(node)
    E2E.emit("DONE", "await")
  end

  defp run(["release", id], node, holder) do
    reply = E2E.call(node, {:release, id, %{holder: holder}})
    E2E.check!(reply == :ok, "release #{id} replied #{inspect(reply)}")
    await_unlisted(node, id, System.monotonic_time(:millisecond))
    E2E.emit("DONE", "release")
  end

  defp run(words, _node, _holder), do: E2E.fail!("unknown command #{inspect(Enum.join(words, " "))}")

  # Polls list (not info, whose :not_found would be a freed_id security event).
  defp await_unlisted(node, id, started_ms) do
    if id in Sec.listed_ids(node, %{}) do
      E2E.check!(System.monotonic_time(:millisecond) - started_ms < 30_000, "region #{id} still listed after 30 s")
      Process.sleep(10)
      await_unlisted(node, id, started_ms)
    end
  end

  defp await(node, status, needle, started_ms, limit_ms) do
    health = E2E.ok!(node, :health)
    problems = health.security.shm_dir_problems

    seen = if needle == "-", do: problems == [], else: Enum.any?(problems, &String.contains?(&1, needle))

    elapsed_ms = System.monotonic_time(:millisecond) - started_ms

    cond do
      health.status == status and seen ->
        health

      elapsed_ms > limit_ms ->
        E2E.fail!(
          "no health #{status} with problem #{inspect(needle)} within #{limit_ms} ms; last: " <>
            inspect(health, limit: :infinity)
        )

      true ->
        Process.sleep(20)
        await(node, status, needle, started_ms, limit_ms)
    end
  end
end

{node, [os_pid]} = E2E.args()
E2E.connect!(node)
Tamper.loop(node, {:os_pid, String.to_integer(os_pid)})
