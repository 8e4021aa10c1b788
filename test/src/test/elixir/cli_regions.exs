# Allocates regions for the diagnostics CLI tests (CliIT) and holds them until stdin
# closes: three pooled regions without a tenant (two in session "cli-session"), one
# dedicated region (2 MiB + 1 byte) and one pooled region of tenant "cli-tenant". Region 0's
# payload starts with "hello snakepit-shm cli" followed by the bytes 0..77.
#
# Prints ID_I, GEN_I, SIZE_I, PATH_I, OFFSET_I per region, COUNT, TENANT_ID, DEDICATED_ID
# and READY=1, then waits for the end of stdin (the holder is this script's process, which
# traps exits so that a killed node does not take it down).
#
#   elixir ... cli_regions.exs NODE
Code.require_file("support.exs", __DIR__)

{node, []} = E2E.args()
E2E.connect!(node)
Process.flag(:trap_exit, true)

specs = [
  {100, %{session: "cli-session", label: "cli-a"}},
  {4096, %{session: "cli-session", label: "cli-b", sensitive: true}},
  {65_536, %{label: "cli-c"}},
  {2 * 1024 * 1024 + 1, %{label: "cli-dedicated"}},
  {1000, %{tenant: "cli-tenant", label: "cli-secret"}}
]

descriptors = Enum.map(specs, fn {size, opts} -> E2E.ok!(node, {:allocate, size, opts}) end)
E2E.pwrite!(hd(descriptors), "hello snakepit-shm cli" <> :binary.list_to_bin(Enum.to_list(0..77)))

descriptors
|> Enum.with_index()
|> Enum.each(fn {desc, index} ->
  E2E.emit("ID_#{index}", desc.id)
  E2E.emit("GEN_#{index}", desc.generation)
  E2E.emit("SIZE_#{index}", desc.size)
  E2E.emit("PATH_#{index}", desc.path)
  E2E.emit("OFFSET_#{index}", desc.offset)
end)

E2E.emit("COUNT", length(descriptors))
E2E.emit("DEDICATED_ID", Enum.at(descriptors, 3).id)
E2E.emit("TENANT_ID", Enum.at(descriptors, 4).id)
E2E.emit("READY", 1)

# hold the regions until the harness closes stdin
_ = IO.read(:stdio, :eof)
