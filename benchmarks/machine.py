"""Facts about the machine and toolchain a benchmark run used (stdlib only).

``machine_info(root)`` returns a dict: CPU model, cores, memory, kernel, /dev/shm
size, load average, OTP/ERTS/Elixir/Java/Python/numpy versions and the git commit of
the repository at ``root``. Every probe that fails yields ``None`` instead of raising:
a missing fact must not cost the results of a run.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from typing import Any, Dict, List, Optional


def _run(args: List[str], cwd: Optional[str] = None) -> Optional[str]:
    """stdout+stderr of a command, stripped; None if it cannot run or fails."""
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return (done.stdout + done.stderr).strip()


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def cpu_model() -> Optional[str]:
    text = _read("/proc/cpuinfo") or ""
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or None


def memory_bytes() -> Optional[int]:
    match = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo") or "", re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def shm_bytes(path: str = "/dev/shm") -> Optional[int]:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_blocks * st.f_frsize


def load_average() -> Optional[List[float]]:
    text = _read("/proc/loadavg")
    return [float(x) for x in text.split()[:3]] if text else None


def otp_versions() -> Dict[str, Optional[str]]:
    out = _run(["erl", "-noshell", "-eval",
                'io:format("~s ~s", [erlang:system_info(otp_release), '
                'erlang:system_info(version)]), halt().'])
    otp, erts = (out.split() + [None, None])[:2] if out else (None, None)
    return {"otp": otp, "erts": erts}


def elixir_version() -> Optional[str]:
    out = _run(["elixir", "--version"]) or ""
    match = re.search(r"Elixir (\S+)", out)
    return match.group(1) if match else None


def java_version() -> Optional[str]:
    out = _run(["java", "-version"]) or ""
    return out.splitlines()[0] if out else None


def numpy_version() -> Optional[str]:
    try:
        import numpy  # noqa: PLC0415 (optional)
    except ImportError:
        return None
    return numpy.__version__


def git_commit(root: str) -> Optional[str]:
    commit = _run(["git", "rev-parse", "--short", "HEAD"], cwd=root)
    if commit is None:
        return None
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root)
    return commit + ("+uncommitted changes" if dirty else "")


def machine_info(root: str) -> Dict[str, Any]:
    """Everything above, as one JSON-ready dict."""
    info: Dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": memory_bytes(),
        "shm_bytes": shm_bytes(),
        "kernel": platform.release(),
        "os": platform.platform(terse=True),
        "load_average": load_average(),
        "elixir": elixir_version(),
        "java": java_version(),
        "python": sys.version.split()[0],
        "numpy": numpy_version(),
        "git_commit": git_commit(root),
    }
    info.update(otp_versions())
    return info
