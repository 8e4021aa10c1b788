# Allocates regions of several sizes (pooled and dedicated, some sensitive), all held by
# the OS process OS_PID so they outlive this script. Prints PATH_I per region and COUNT.
#
#   elixir ... allocate_held.exs NODE OS_PID
Code.require_file("support.exs", __DIR__)

{node, [os_pid]} = E2E.args()
E2E.connect!(node)
holder = {:os_pid, String.to_integer(os_pid)}

regions = [
  {100, false},
  {4096, true},
  {64 * 1024, false},
  {2 * 1024 * 1024 + 1, true},
  {5 * 1024 * 1024, false}
]

regions
|> Enum.with_index()
|> Enum.each(fn {{size, sensitive}, index} ->
  desc = E2E.ok!(node, {:allocate, size, %{holder: holder, sensitive: sensitive}})
  E2E.pwrite!(desc, :binary.copy(<<0x5A>>, size))
  E2E.emit("PATH_#{index}", desc.path)
end)

E2E.emit("COUNT", length(regions))
