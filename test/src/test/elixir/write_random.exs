# Allocates one region per SIZE, held by the OS process OS_PID (so it outlives this
# script), writes random bytes into each payload with :file.pwrite and prints, per region
# I (0-based): ID_I, TOKEN_I (its capability token, for a later acquire), DESC_JSON_I (the
# descriptor as JSON, for a Python worker), SHA256_I.
#
#   elixir ... write_random.exs NODE OS_PID SIZE [SIZE...]
Code.require_file("support.exs", __DIR__)

{node, [os_pid | sizes]} = E2E.args()
E2E.connect!(node)
holder = {:os_pid, String.to_integer(os_pid)}

sizes
|> Enum.map(&String.to_integer/1)
|> Enum.with_index()
|> Enum.each(fn {size, index} ->
  desc = E2E.ok!(node, {:allocate, size, %{holder: holder, label: "e2e-write-random"}})
  E2E.check!(desc.size == size, "descriptor size #{desc.size}, asked #{size}")
  E2E.check!(rem(desc.offset, 64) == 0, "offset #{desc.offset} is not a multiple of 64")

  info = E2E.ok!(node, {:info, desc.id})
  E2E.check!(info.refcount == 1 and info.holders == [%{holder: holder, refs: 1}],
             "info after allocate: #{inspect(info)}")

  bytes = :crypto.strong_rand_bytes(size)
  E2E.pwrite!(desc, bytes)
  E2E.emit("ID_#{index}", desc.id)
  E2E.emit("TOKEN_#{index}", desc.token)
  E2E.emit("DESC_JSON_#{index}", E2E.json(desc))
  E2E.emit("SHA256_#{index}", E2E.sha256(bytes))
end)

E2E.emit("COUNT", length(sizes))
