# BEAM-A of the two-host scenario (ScaleOutIT). Of the managers NODE_A and NODE_B it
# picks the one whose :ping reports HOST_ID (LOCAL=node), allocates SIZE bytes there,
# fills them with random bytes (ID, DESC_HOST, SHA256), sends {:descriptor, descriptor,
# sha256, self()} to :cluster_consumer on BEAM node CONSUMER over distribution (SENT=1),
# waits for :done, releases the region and waits until its manager no longer knows it
# (GONE=1).
#
#   elixir ... cluster_producer.exs NODE_A NODE_B HOST_ID SIZE CONSUMER
Code.require_file("cluster_support.exs", __DIR__)

{node_a, [node_b, host_id, size, consumer]} = E2E.args()
managers = [node_a, String.to_atom(node_b)]
size = String.to_integer(size)
E2E.Cluster.connect_all!(managers)
local = E2E.Cluster.manager_of!(managers, host_id)
E2E.emit("LOCAL", local)

descriptor = E2E.ok!(local, {:allocate, size, %{label: "e2e-cluster-original"}})
bytes = :crypto.strong_rand_bytes(size)
E2E.pwrite!(descriptor, bytes)
sha = E2E.sha256(bytes)
E2E.emit("ID", descriptor.id)
E2E.emit("DESC_HOST", descriptor.host)
E2E.emit("SHA256", sha)

consumer = String.to_atom(consumer)
E2E.check!(Node.connect(consumer) == true, "cannot connect to BEAM-B #{consumer}")
send({:cluster_consumer, consumer}, {:descriptor, descriptor, sha, self()})
E2E.emit("SENT", 1)

receive do
  :done -> :ok
after
  60_000 -> E2E.fail!("BEAM-B did not finish")
end

:ok = E2E.call(local, {:release, descriptor.id, %{}})
E2E.await_not_found!(local, descriptor.id, System.monotonic_time(:millisecond), 30_000)
E2E.emit("GONE", 1)
