#!/usr/bin/env bash
# Builds snakepit-shm: the Java node (java_node/target/snakepit-shm-node.jar, runtime
# dependencies in java_node/target/lib) and the Elixir demo project. Runs scripts/setup.sh
# first. Tests are not run here (scripts/test.sh does that). Silent on success.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$root/scripts/setup.sh"
jinterface_version="$("$root/scripts/install-jinterface.sh" --quiet)"

cd "$root"
# Maven's output (and the version line its jinterface step prints) only when it fails.
if ! mvn_out="$(mvn -B -q -Dstyle.color=never -DskipTests -Djinterface.version="$jinterface_version" \
                  package 2>&1)"; then
  printf '%s\n' "$mvn_out" >&2
  echo "build: the Maven build failed in $root" >&2
  exit 1
fi

cd "$root/elixir_demo"
# mix has no quiet switch: keep its output for when it fails.
if ! mix_out="$(mix compile 2>&1)"; then
  printf '%s\n' "$mix_out" >&2
  echo "build: 'mix compile' failed in $root/elixir_demo" >&2
  exit 1
fi
