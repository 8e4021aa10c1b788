#!/usr/bin/env bash
# Installs the JInterface jar of the locally installed Erlang/OTP into the local
# Maven repository as org.erlang.otp.installed:jinterface:<version>, the version
# read from the OTP install (code:priv_dir(jinterface)). Idempotent. Prints the
# version on stdout. Maven Central's org.erlang.otp:jinterface:1.6.1 cannot talk
# to OTP 25, so it is never used.
set -euo pipefail
quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1

if ! command -v erl >/dev/null 2>&1; then
  echo "install-jinterface: erl not found; install Erlang/OTP first (scripts/setup.sh)" >&2
  exit 1
fi
priv=$(erl -noshell -eval 'io:format("~s", [code:priv_dir(jinterface)]), halt().' 2>/dev/null || true)
jar="$priv/OtpErlang.jar"
if [ -z "$priv" ] || [ ! -f "$jar" ]; then
  echo "install-jinterface: OtpErlang.jar not found (priv_dir: '${priv}'); install Debian's erlang-jinterface (scripts/setup.sh)" >&2
  exit 1
fi
version=$(basename "$(dirname "$priv")"); version=${version#jinterface-}
# Run Maven outside any project so the calling build's pom is not read.
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; cd "$work"
repo="${MAVEN_LOCAL_REPO:-$HOME/.m2/repository}"
installed="$repo/org/erlang/otp/installed/jinterface/$version/jinterface-$version.jar"
if [ ! -f "$installed" ] || ! cmp -s "$jar" "$installed"; then
  [ $quiet = 1 ] || echo "install-jinterface: installing $jar as org.erlang.otp.installed:jinterface:$version" >&2
  mvn -q -B install:install-file -Dfile="$jar" -DgroupId=org.erlang.otp.installed \
    -DartifactId=jinterface -Dversion="$version" -Dpackaging=jar -DgeneratePom=true \
    ${MAVEN_LOCAL_REPO:+-Dmaven.repo.local="$MAVEN_LOCAL_REPO"} >&2
fi
echo "$version"
