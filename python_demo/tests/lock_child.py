"""Child processes for the synchronization tests: a real other process that
holds a region's write lock, dies holding it, or tries to take it.

Run as ``python3 lock_child.py MODE DESCRIPTOR_JSON [ARG]``; the
:class:`LockChild` wrapper starts one and talks to it by lines:

- ``hold``: take the write lock, print ``locked``, wait for a line on
  stdin, release, print ``released``, then wait for EOF.
- ``hold_odd``: like ``hold``, but after locking make ``write_seq`` odd and
  write the first half of the payload as 0xEE (a write in progress); on the
  stdin line write the second half, make ``write_seq`` even, then release.
- ``die_mid_write``: take the lock, make ``write_seq`` odd, write the first
  half of the payload as 0xDD, print ``dying`` and SIGKILL itself.
- ``try``: try the write lock with timeout ARG seconds and print one JSON
  line: ``{"ok": bool, "code": str|null, "message": str|null,
  "elapsed_s": float}``.

``write_seq`` is changed with a ``pwrite`` to the file (on tmpfs the same
page the mappings see), not through the package, so the package is tested
against bytes it did not write itself.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

from snakepit_shm import ShmError, attach

WRITE_SEQ_FILE_OFFSET_FROM_PAYLOAD = -4
"""``write_seq`` is the u32 at region-header offset 60: payload - 4."""

LINE_TIMEOUT_S = 20


def seq_file_offset(desc: Dict[str, Any]) -> int:
    """File offset of ``write_seq`` of the region ``desc`` names."""
    return int(desc["offset"]) + WRITE_SEQ_FILE_OFFSET_FROM_PAYLOAD


def pwrite_at(path: str, file_offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, data, file_offset)
    finally:
        os.close(fd)


def pread_seq(desc: Dict[str, Any]) -> int:
    """``write_seq`` read straight from the file."""
    fd = os.open(desc["path"], os.O_RDONLY)
    try:
        return int(struct.unpack("<I", os.pread(fd, 4,
                                                seq_file_offset(desc)))[0])
    finally:
        os.close(fd)


def poke_seq(desc: Dict[str, Any], value: int) -> None:
    """Set ``write_seq`` with a pwrite to the file."""
    pwrite_at(desc["path"], seq_file_offset(desc),
              struct.pack("<I", value & 0xFFFFFFFF))


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: List[str]) -> int:
    mode, desc = argv[1], json.loads(argv[2])
    half = desc["size"] // 2
    region = attach(desc)
    if mode == "try":
        started = time.monotonic()
        try:
            with region.write_lock(timeout_s=float(argv[3])):
                result: Dict[str, Any] = {"ok": True, "code": None,
                                          "message": None}
        except ShmError as exc:
            result = {"ok": False, "code": exc.code, "message": exc.message}
        result["elapsed_s"] = time.monotonic() - started
        _say(json.dumps(result))
        return 0
    with region.write_lock(timeout_s=5.0):
        if mode in ("hold_odd", "die_mid_write"):
            seq = pread_seq(desc)
            poke_seq(desc, seq | 1)
            fill = b"\xee" if mode == "hold_odd" else b"\xdd"
            region.write(0, fill * half)
            if mode == "die_mid_write":
                _say("dying")
                os.kill(os.getpid(), signal.SIGKILL)
        _say("locked")
        sys.stdin.readline()
        if mode == "hold_odd":
            region.write(half, b"\xee" * (desc["size"] - half))
            poke_seq(desc, (pread_seq(desc) | 1) + 1)
    _say("released")
    sys.stdin.read()
    region.close()
    return 0


class LockChild:
    """A running ``lock_child.py`` process."""

    def __init__(self, mode: str, desc: Dict[str, Any], *args: str,
                 env: Optional[Dict[str, str]] = None) -> None:
        if env is None:
            from conftest import subprocess_env
            env = subprocess_env()
        self.process = subprocess.Popen(
            [sys.executable, __file__, mode, json.dumps(desc), *args],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def expect(self, line: str) -> None:
        """Wait for ``line`` on the child's stdout."""
        got = self.readline()
        assert got == line, (got, self.stderr_now())

    def readline(self) -> Optional[str]:
        """The next stdout line (None at EOF); fails after
        LINE_TIMEOUT_S."""
        return self._lines.get(timeout=LINE_TIMEOUT_S)

    def tell(self, line: str = "go") -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def kill(self) -> int:
        """SIGKILL and reap; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=LINE_TIMEOUT_S)

    def stderr_now(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def stop(self) -> None:
        """Kill (if still running), reap and close the pipes."""
        self.kill()
        self._reader.join(timeout=LINE_TIMEOUT_S)
        for stream in (self.process.stdin, self.process.stdout,
                       self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()

    def __enter__(self) -> "LockChild":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
