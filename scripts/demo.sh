#!/usr/bin/env bash
# The demo: builds everything (scripts/build.sh), then runs the Elixir demo, which starts
# the snakepit-shm node, allocates shared memory, writes it from Elixir, has a Python
# worker read it zero-copy, and releases it; then runs a Snakepit-style session through
# pools of both worker profiles (process and thread) and checks that ending the session
# frees its regions (docs/SNAKEPIT.md). Arguments go to `mix snakepit_shm.demo`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$root/scripts/build.sh"
cd "$root/elixir_demo"
exec mix snakepit_shm.demo "$@"
