# Acquires region ID with its capability TOKEN (the descriptor's token; this script
# becomes a holder), reads its whole payload with :file.pread, prints SIZE and SHA256,
# then releases its reference (RELEASED=ok).
#
#   elixir ... read_back.exs NODE ID TOKEN
Code.require_file("support.exs", __DIR__)

{node, [id, token]} = E2E.args()
E2E.connect!(node)

desc = E2E.ok!(node, {:acquire, id, %{token: token}})
E2E.check!(desc.id == id, "acquire returned id #{desc.id}, asked #{id}")
bytes = E2E.pread!(desc)
E2E.emit("SIZE", byte_size(bytes))
E2E.emit("SHA256", E2E.sha256(bytes))
E2E.check!(E2E.call(node, {:release, id, %{}}) == :ok, "release of #{id} failed")
E2E.emit("RELEASED", "ok")
