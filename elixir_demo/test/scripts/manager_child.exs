# Run by manager_test.exs in a BEAM of its own:
#   elixir -pa <ebin> manager_child.exs SHM_DIR NODE_NAME DIST_NAME LOG_PATH
# Starts a SnakepitShm.Manager under a supervisor (this BEAM is not distributed: the
# manager starts distribution after the node started epmd), allocates a region held by
# this script, prints one line
#   READY <node> <java os pid> <beam os pid> <segment path>
# and waits to be killed.
[shm_dir, node_name, dist_name, log_path] = System.argv()
{:ok, _} = Application.ensure_all_started(:logger)
{:ok, _} = Application.ensure_all_started(:crypto)

{:ok, _supervisor} =
  Supervisor.start_link(
    [
      {SnakepitShm.Manager,
       node_name: node_name,
       shm_dir: shm_dir,
       stderr_path: log_path,
       start_distribution: {String.to_atom(dist_name), :shortnames}}
    ],
    strategy: :one_for_one
  )

{:ok, node} = SnakepitShm.Manager.server(SnakepitShm.Manager, wait_ms: 60_000)
{:ok, %{status: :up, os_pid: os_pid}} = SnakepitShm.Manager.status()
{:ok, %{pid: ^os_pid}} = SnakepitShm.ping(node)
{:ok, region} = SnakepitShm.allocate(node, 4096)
IO.puts("READY #{node} #{os_pid} #{System.pid()} #{region.path}")
Process.sleep(:infinity)
