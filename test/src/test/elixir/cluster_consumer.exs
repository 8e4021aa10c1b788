# BEAM-B of the two-host scenario (ScaleOutIT). Of the managers NODE_A and NODE_B it
# picks the one whose :ping reports HOST_ID (LOCAL=node), registers the process
# :cluster_consumer and prints BEAM=<this node> and READY=1. Then it waits for
# {:descriptor, descriptor, sha256, from} from BEAM-A and:
#   * checks the descriptor's host against its own: REFUSED=other_host when they differ
#     (what SnakepitShm.Cluster.ensure_local/2 answers), DESC_HOST=...;
#   * asks its own manager for the region anyway: NAIVE=<code>/<reason> (that manager
#     never made it);
#   * copies it: acquires it at the manager of the descriptor's host with its token,
#     allocates the same size at its own manager, reads CHUNK bytes at a time with the
#     owner's {:read, ...} and pwrites them into the copy, releases the original;
#     COPY_HOST, COPY_PATH, COPY_SHA256, COPY_US, REMOTE_REFCOUNT (the original's
#     references after the copy);
#   * releases the copy (COPY_GONE=1 once its manager no longer knows it), sends :done
#     to `from`, and exits.
#
#   elixir ... cluster_consumer.exs NODE_A NODE_B HOST_ID CHUNK
Code.require_file("cluster_support.exs", __DIR__)

{node_a, [node_b, host_id, chunk]} = E2E.args()
managers = [node_a, String.to_atom(node_b)]
chunk = String.to_integer(chunk)
E2E.Cluster.connect_all!(managers)
local = E2E.Cluster.manager_of!(managers, host_id)
E2E.emit("LOCAL", local)
Process.register(self(), :cluster_consumer)
E2E.emit("BEAM", node())
E2E.emit("READY", 1)

{descriptor, sha, from} =
  receive do
    {:descriptor, descriptor, sha, from} -> {descriptor, sha, from}
  after
    60_000 -> E2E.fail!("no descriptor came")
  end

E2E.emit("DESC_HOST", descriptor.host)
E2E.emit("SENT_SHA256", sha)
if descriptor.host != host_id, do: E2E.emit("REFUSED", "other_host")

case E2E.call(local, {:acquire, descriptor.id, %{token: descriptor.token}}) do
  {:error, %{code: code} = error} -> E2E.emit("NAIVE", "#{code}/#{error[:reason]}")
  other -> E2E.fail!("the local manager acquired a region of another host: #{inspect(other)}")
end

owner = E2E.Cluster.manager_of!(managers, descriptor.host)
started = System.monotonic_time(:microsecond)
_held = E2E.ok!(owner, {:acquire, descriptor.id, %{token: descriptor.token}})
copy = E2E.ok!(local, {:allocate, descriptor.size, %{label: "e2e-cluster-copy"}})
{:ok, file} = :file.open(copy.path, [:read, :write, :binary, :raw])

for at <- 0..(descriptor.size - 1)//chunk do
  bytes = E2E.ok!(owner, {:read, descriptor.id, at, min(chunk, descriptor.size - at), %{}})
  :ok = :file.pwrite(file, copy.offset + at, bytes)
end

:file.close(file)
:ok = E2E.call(owner, {:release, descriptor.id, %{}})
E2E.emit("COPY_US", System.monotonic_time(:microsecond) - started)
E2E.emit("COPY_HOST", copy.host)
E2E.emit("COPY_PATH", copy.path)
E2E.emit("COPY_SHA256", E2E.Cluster.sha256_of!(copy))
E2E.emit("REMOTE_REFCOUNT", E2E.ok!(owner, {:info, descriptor.id}).refcount)
:ok = E2E.call(local, {:release, copy.id, %{}})
E2E.await_not_found!(local, copy.id, System.monotonic_time(:millisecond), 30_000)
E2E.emit("COPY_GONE", 1)
send(from, :done)
