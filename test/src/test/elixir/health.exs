# Prints HEALTH (the :health status) and REGIONS (live regions, from :stats).
#
#   elixir ... health.exs NODE
Code.require_file("support.exs", __DIR__)

{node, []} = E2E.args()
E2E.connect!(node)
E2E.emit("HEALTH", E2E.ok!(node, :health).status)
E2E.emit("REGIONS", E2E.ok!(node, :stats).regions)
