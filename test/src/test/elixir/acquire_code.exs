# Tries to acquire region ID with the capability TOKEN (the descriptor's token; without
# TOKEN the acquire carries none, so a live region answers :forbidden) and prints CODE=ok
# or CODE=<error code>, plus STATE (the region's :info state, or the error code of :info).
# Releases what it acquired.
#
#   elixir ... acquire_code.exs NODE ID [TOKEN]
Code.require_file("support.exs", __DIR__)

{node, [id | token]} = E2E.args()
E2E.connect!(node)

opts =
  case token do
    [] -> %{}
    [token] -> %{token: token}
    _ -> E2E.fail!("usage: acquire_code.exs NODE ID [TOKEN]")
  end

case E2E.call(node, {:acquire, id, opts}) do
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
