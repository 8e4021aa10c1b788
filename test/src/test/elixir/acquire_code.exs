# Tries to acquire region ID and prints CODE=ok or CODE=<error code>, plus STATE (the
# region's :info state, or not_found). Releases what it acquired.
#
#   elixir ... acquire_code.exs NODE ID
Code.require_file("support.exs", __DIR__)

{node, [id]} = E2E.args()
E2E.connect!(node)

case E2E.call(node, {:acquire, id, %{}}) do
  {:ok, _desc} ->
    E2E.emit("CODE", "ok")
    :ok = E2E.call(node, {:release, id, %{}})

  {:error, %{code: code}} ->
    E2E.emit("CODE", code)
end

case E2E.call(node, {:info, id}) do
  {:ok, info} -> E2E.emit("STATE", info.state)
  {:error, %{code: code}} -> E2E.emit("STATE", code)
end
