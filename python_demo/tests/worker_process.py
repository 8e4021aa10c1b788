"""A `python3 -m snakepit_shm.worker` child driven over its line protocol,
with a reader thread so every reply is awaited with a timeout."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from typing import Any, Dict, Optional, Sequence

from conftest import subprocess_env

REPLY_TIMEOUT_S = 20


class WorkerProcess:
    """A worker child with a reader thread, so every read has a timeout."""

    def __init__(self, args: Sequence[str] = (), **env: str) -> None:
        """Start the worker; ``args`` go to its command line (e.g.
        ``["--threads", "4"]``), ``env`` to its environment."""
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "snakepit_shm.worker", *args],
            env=subprocess_env(**env), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.put(raw.decode("utf-8"))
        self.lines.put(None)

    def send_raw(self, line: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode("utf-8") + b"\n")
        self.process.stdin.flush()
        reply = self.lines.get(timeout=REPLY_TIMEOUT_S)
        assert reply is not None, "worker closed stdout"
        assert reply.endswith("\n") and "\n" not in reply[:-1]
        return reply[:-1]

    def send(self, request: Dict[str, Any]) -> str:
        # compact, like the hand-written encoder on the Elixir side
        return self.send_raw(json.dumps(request, separators=(",", ":")))

    def post(self, request: Dict[str, Any]) -> None:
        """Write a request without waiting for its reply (thread
        profile: replies come in any order; read them with
        :meth:`next_line`)."""
        assert self.process.stdin is not None
        line = json.dumps(request, separators=(",", ":"))
        self.process.stdin.write(line.encode("utf-8") + b"\n")
        self.process.stdin.flush()

    def next_line(self) -> str:
        """The next reply line (without its newline)."""
        reply = self.lines.get(timeout=REPLY_TIMEOUT_S)
        assert reply is not None, "worker closed stdout"
        assert reply.endswith("\n") and "\n" not in reply[:-1]
        return reply[:-1]

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=REPLY_TIMEOUT_S)
        for stream in (self.process.stdin, self.process.stdout,
                       self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def fields(reply: str) -> Dict[str, str]:
    """Parse ``ok k=v k=v`` into a dict (asserting the ok)."""
    status, *pairs = reply.split(" ")
    assert status == "ok", reply
    return dict(pair.split("=", 1) for pair in pairs)
