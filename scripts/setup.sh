#!/usr/bin/env bash
# Installs what snakepit-shm needs to build, run and test, when it is missing:
#   - Erlang/OTP + Elixir from Debian (erlang-base, erlang-crypto, erlang-jinterface, elixir;
#     elixir itself pulls erlang-inets, -parsetools, -public-key, -tools);
#   - a JDK 17 and Maven, if absent (openjdk-17-jdk-headless, maven);
#   - Python 3 with numpy and pytest (checked; pip from the configured index is tried);
#   - the OTP's own OtpErlang.jar into ~/.m2 (scripts/install-jinterface.sh).
# Idempotent and silent when everything is already there. Works from any directory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

# Runs a command as root (directly, or through sudo when available).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run '$*' (no sudo); install the packages named above by hand"
  fi
}

apt_updated=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 \
    || die "missing: $*; no apt-get here, install the equivalent packages with your package manager"
  say "installing Debian packages: $*"
  if [ $apt_updated = 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq update >&2
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq install -y "$@" >&2
}

# True when the installed OTP has crypto and the JInterface jar.
otp_complete() {
  command -v erl >/dev/null 2>&1 || return 1
  # try/catch: an -eval that crashes leaves the VM running instead of halting.
  timeout 60 erl -noshell -eval '
    Ok = try
           Jar = filename:join(code:priv_dir(jinterface), "OtpErlang.jar"),
           Crypto = case application:load(crypto) of
                      ok -> true; {error, {already_loaded, crypto}} -> true; _ -> false
                    end,
           filelib:is_regular(Jar) andalso Crypto
         catch _:_ -> false
         end,
    halt(case Ok of true -> 0; false -> 1 end).' >/dev/null 2>&1
}

# --- Erlang/OTP, JInterface, Elixir --------------------------------------------------
if ! otp_complete || ! command -v elixir >/dev/null 2>&1 || ! command -v mix >/dev/null 2>&1 \
   || ! command -v epmd >/dev/null 2>&1; then
  apt_install erlang-base erlang-crypto erlang-jinterface elixir
  otp_complete || die "Erlang/OTP still lacks crypto or JInterface after the install"
fi

# --- JDK 17+ and Maven ---------------------------------------------------------------
need_java=()
if ! command -v javac >/dev/null 2>&1; then need_java+=(openjdk-17-jdk-headless); fi
if ! command -v mvn >/dev/null 2>&1; then need_java+=(maven); fi
[ ${#need_java[@]} = 0 ] || apt_install "${need_java[@]}"
java_major=$(java -XshowSettings:properties -version 2>&1 \
  | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
[ "${java_major:-0}" -ge 17 ] || die "Java ${java_major:-?} found; JDK 17 or newer is needed (apt-get install openjdk-17-jdk-headless)"

# --- Python 3 with numpy and pytest ----------------------------------------------------
if ! command -v python3 >/dev/null 2>&1; then
  apt_install python3 python3-numpy python3-pytest
fi
py_missing() {
  python3 - <<'PY'
import importlib.util
print(" ".join(m for m in ("numpy", "pytest") if importlib.util.find_spec(m) is None))
PY
}
missing="$(py_missing)"
if [ -n "$missing" ]; then
  say "python3 lacks: $missing; trying pip"
  python3 -m pip install -q $missing >&2 || true
  missing="$(py_missing)"
  [ -z "$missing" ] || die "python3 ($(command -v python3)) lacks: $missing. Install them (pip install $missing, or apt-get install python3-numpy python3-pytest) and run again"
fi

# --- JInterface of the installed OTP into the local Maven repository ------------------
"$root/scripts/install-jinterface.sh" --quiet >/dev/null
