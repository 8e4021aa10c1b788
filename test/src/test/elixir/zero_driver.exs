# Takes commands on stdin, one per line, for the zeroing tests (ZeroingIT); every region is
# held by the OS process OS_PID (a Python worker), so it lives until a command lets it go.
# Each command's answer ends with DONE=<command word>; EOF ends the script.
#
#   config zero_on_free MODE   {:config, {:set, ...}}; prints ZERO_ON_FREE (as now set)
#   alloc SIZE SENSITIVE       allocates (SENSITIVE true|false); prints ID, DESC_JSON,
#                              SEGMENT, OFFSET, GENERATION, DEDICATED_SEGMENTS (stats)
#   free ID | release ID       drops OS_PID's reference that way, then polls {:info, ID}
#                              until :not_found (deallocated); prints GONE_MS
#
#   elixir ... zero_driver.exs NODE OS_PID
Code.require_file("support.exs", __DIR__)

defmodule ZeroDriver do
  @gone_limit_ms 30_000

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

  defp run(["config", "zero_on_free", mode], node, _holder) do
    config = E2E.ok!(node, {:config, {:set, %{zero_on_free: String.to_atom(mode)}}})
    E2E.emit("ZERO_ON_FREE", config.zero_on_free)
    E2E.emit("DONE", "config")
  end

  defp run(["alloc", size, sensitive], node, holder) do
    opts = %{holder: holder, sensitive: sensitive == "true", label: "e2e-zeroing"}
    desc = E2E.ok!(node, {:allocate, String.to_integer(size), opts})
    E2E.emit("ID", desc.id)
    E2E.emit("DESC_JSON", E2E.json(desc))
    E2E.emit("SEGMENT", desc.segment)
    E2E.emit("OFFSET", desc.offset)
    E2E.emit("GENERATION", desc.generation)
    E2E.emit("DEDICATED_SEGMENTS", E2E.ok!(node, :stats).dedicated_segments)
    E2E.emit("DONE", "alloc")
  end

  defp run([how, id], node, holder) when how in ["free", "release"] do
    request = if how == "free", do: {:free, id, %{holder: holder}}, else: {:release, id, %{holder: holder}}
    reply = E2E.call(node, request)
    E2E.check!(reply == :ok, "#{inspect(request)} replied #{inspect(reply)}")
    started_ms = System.monotonic_time(:millisecond)
    E2E.emit("GONE_MS", E2E.await_not_found!(node, id, started_ms, @gone_limit_ms))
    E2E.emit("DONE", how)
  end

  defp run(words, _node, _holder), do: E2E.fail!("unknown command #{inspect(Enum.join(words, " "))}")
end

{node, [os_pid]} = E2E.args()
E2E.connect!(node)
ZeroDriver.loop(node, {:os_pid, String.to_integer(os_pid)})
