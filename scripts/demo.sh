#!/usr/bin/env bash
# The demo: builds everything (scripts/build.sh), then runs the Elixir demo, which starts
# the snakepit-shm node, allocates shared memory, writes it from Elixir, has a Python
# worker read it zero-copy, and releases it; then runs a Snakepit-style session through
# pools of both worker profiles (process and thread) and checks that ending the session
# frees its regions (docs/SNAKEPIT.md). Then the scale-out demo: two managers acting as
# two hosts and two BEAM nodes, each using the manager of its own host (docs/SCALE_OUT.md).
# Arguments go to `mix snakepit_shm.demo`; `--no-cluster` (first) skips the scale-out part.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

cluster=1
if [ "${1:-}" = "--no-cluster" ]; then
  cluster=0
  shift
fi

"$root/scripts/build.sh"
cd "$root/elixir_demo"
mix snakepit_shm.demo "$@"
if [ "$cluster" = 1 ]; then
  echo
  echo "== scale-out: one manager per host for a BEAM cluster (mix snakepit_shm.cluster_demo) =="
  mix snakepit_shm.cluster_demo
fi
