"""Line-protocol worker for the Elixir demo.

Run as ``PYTHONPATH=python_demo python3 -u -m snakepit_shm.worker``
(process worker profile: one request at a time) or with ``--threads N``
(thread worker profile, below).

Each request is one line of JSON on stdin; each response is one line on
stdout, either ``ok key=value key=value ...`` or ``error <code> <message>``
(values never contain spaces; floats use ``repr``). Nothing else is written
to stdout: logs go to stderr. A failed request yields an ``error`` line and
the worker keeps serving; EOF on stdin or ``{"op":"exit"}`` ends it with
status 0.

Requests (``DESC`` is a region descriptor object, CONTRACT section 3)::

    {"op":"ping"}                                  ok pid=<os pid>
    {"op":"sha256","region":DESC}                  ok sha256=<hex> size=<n>
    {"op":"scale","input":DESC,"output":DESC,"factor":F}
        ok sum=<repr> n=<count> sha256=<hex of output> micros=<compute time>
    {"op":"fill","region":DESC,"byte":B}           ok size=<n> byte=<B>
    {"op":"attach_time","region":DESC}             ok map_micros=<n>
    {"op":"hold","region":DESC}                    ok held=<count> size=<n>
    {"op":"release_held"}                          ok closed=<count>
    {"op":"held_sha256","index":I}
                                  ok sha256=<hex> size=<n> index=<I>
    {"op":"write_consistent","region":DESC,"offset":N,"hex":"..."}
    {"op":"write_consistent","region":DESC,"offset":N,"fill_u64":V,"count":C}
                                                   ok bytes=<n> seq=<even>
    {"op":"read_consistent","region":DESC,"offset":N,"length":L}
                                                   ok sha256=<hex> seq=<even>
    {"op":"contend","region":DESC,"role":"writer"|"reader","seconds":S,
     "words":W,"writer_id":K,"raw":false}
                                  ok ops=<n> torn=<count> retries=<n>
    {"op":"exit"}                                  ok exit=0, then exit 0

The synchronized ops follow docs/SYNC.md (write lock and ``write_seq``);
each takes an optional ``"timeout_ms"`` (default 5000) for the lock or a
consistent read (``error timeout ...`` when it runs out). ``contend`` is
described in :mod:`snakepit_shm.sync_ops`.

``scale`` reads the input payload as little-endian float64 and writes
``input * factor`` into the output payload in place (numpy when installed,
``memoryview.cast('d')`` otherwise). ``hold`` keeps the region mapped until
``release_held``, exit or death, to demonstrate a holder crash.
``held_sha256`` hashes the payload of held region ``I`` (0-based, in hold
order) through the mapping made at hold time, without checking the header
again: it shows what a process that kept its mapping after the region was
freed sees (zeros for zeroed regions).

Regions whose payload does not fit the worker's address space are served in
windowed mode (see :mod:`snakepit_shm.windows`); the fallback is logged as a
warning on stderr. ``hold`` of such a region keeps no mapping, only its
segment's descriptor open.

Every region is a view of its segment's one mapping in this process
(:mod:`snakepit_shm.segments`): regions attached at the same time (a
``scale`` input and output, held regions, concurrent requests) share it;
the mapping is closed when the last of them closes.

**Thread worker profile.** ``python -m snakepit_shm.worker --threads N``
(N >= 1) runs N threads serving requests concurrently; they share the
process's one segment cache, so a segment is mapped once for all of them.
Every request carries ``"req": <non-negative integer>`` and its reply line
is prefixed by that integer and a space; replies come in any order::

    {"req":17,"op":"sha256","region":DESC}  17 ok sha256=<hex> size=<n>
    {"req":18,"op":"ping"}                  18 ok threads=<N> pid=<os pid>
    {"op":"ping"}                           - error invalid_request missing req

A line without a usable ``req`` (missing, not a non-negative integer, not
JSON) is answered ``- error invalid_request ...``. Every op above works the
same; held regions are shared by all threads. ``exit`` stops reading,
waits for the requests already read to be answered, then replies
``<req> ok exit=0`` and ends with status 0; so does EOF (without a reply).
The ``req`` ids are echoed, not checked for uniqueness. Without
``--threads`` the protocol is unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import queue
import sys
import threading
from typing import (Any, BinaryIO, Callable, Dict, List, Mapping, Optional,
                    Sequence, TextIO, Tuple)

from . import ops, sync_ops
from .errors import InvalidRequestError, ShmError
from .region import Region, attach

Reply = Dict[str, Any]


class ProtocolError(InvalidRequestError):
    """A request that is not valid for the line protocol
    (``invalid_request``)."""


class ExitRequested(Exception):
    """Raised by the exit op after its reply is written."""


class Worker:
    """Serves requests; holds the regions of ``hold`` requests.

    Thread-safe: in the thread profile one Worker serves every thread
    (the held regions are guarded by a lock).
    """

    def __init__(self, threads: Optional[int] = None) -> None:
        """``threads``: the thread profile's thread count (``ping``
        reports it); None for the process profile."""
        self.threads = threads
        self.held: List[Region] = []
        self._held_lock = threading.RLock()
        self._handlers: Dict[str, Callable[[Mapping[str, Any]], Reply]] = {
            "ping": self._ping,
            "sha256": self._sha256,
            "scale": self._scale,
            "fill": self._fill,
            "attach_time": self._attach_time,
            "hold": self._hold,
            "release_held": self._release_held,
            "held_sha256": self._held_sha256,
            "write_consistent": self._write_consistent,
            "read_consistent": self._read_consistent,
            "contend": self._contend,
            "exit": self._exit,
        }

    def handle_line(self, line: str) -> str:
        """Answer one request line with one response line (no newline).

        Raises:
            ExitRequested: the request was ``exit``.
        """
        try:
            request = _decode(line)
        except ShmError as exc:
            return format_error(exc.code, exc.message)
        return self.handle_request(request)

    def handle_request(self, request: Mapping[str, Any]) -> str:
        """Answer one decoded request with one response line.

        Raises:
            ExitRequested: the request was ``exit``.
        """
        try:
            op = request.get("op")
            handler = self._handlers.get(op) if isinstance(op, str) else None
            if handler is None:
                raise ProtocolError(
                    f"unknown op {op!r}; known: {', '.join(self._handlers)}")
            return format_ok(handler(request))
        except ShmError as exc:
            return format_error(exc.code, exc.message)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            return format_error("invalid_request",
                                f"{type(exc).__name__}: {exc}")
        except ExitRequested:
            raise
        except Exception as exc:  # one catch-all: the worker keeps serving
            return format_error("platform_error",
                                f"{type(exc).__name__}: {exc}")

    def close_held(self) -> int:
        """Close every held region; returns how many were closed."""
        with self._held_lock:
            count = len(self.held)
            while self.held:
                self.held.pop().close()
            return count

    # --- ops --------------------------------------------------------------

    def _ping(self, request: Mapping[str, Any]) -> Reply:
        if self.threads is None:
            return {"pid": os.getpid()}
        return {"threads": self.threads, "pid": os.getpid()}

    def _sha256(self, request: Mapping[str, Any]) -> Reply:
        with attach(_field(request, "region", dict)) as region:
            return {"sha256": ops.sha256_hex(region), "size": region.size}

    def _scale(self, request: Mapping[str, Any]) -> Reply:
        factor = _field(request, "factor", (int, float))
        with attach(_field(request, "input", dict)) as source, \
                attach(_field(request, "output", dict)) as target:
            result = ops.scale(source, target, float(factor))
            return {"sum": result["sum"], "n": result["n"],
                    "sha256": ops.sha256_hex(target),
                    "micros": result["micros"]}

    def _fill(self, request: Mapping[str, Any]) -> Reply:
        value = _field(request, "byte", int)
        with attach(_field(request, "region", dict)) as region:
            ops.fill(region, value)
            return {"size": region.size, "byte": value}

    def _attach_time(self, request: Mapping[str, Any]) -> Reply:
        return {"map_micros": ops.attach_time_micros(
            _field(request, "region", dict))}

    def _hold(self, request: Mapping[str, Any]) -> Reply:
        region = attach(_field(request, "region", dict))
        with self._held_lock:
            self.held.append(region)
            return {"held": len(self.held), "size": region.size}

    def _release_held(self, request: Mapping[str, Any]) -> Reply:
        return {"closed": self.close_held()}

    def _held_sha256(self, request: Mapping[str, Any]) -> Reply:
        index = _field(request, "index", int)
        with self._held_lock:                # release_held waits for it
            if not 0 <= index < len(self.held):
                raise ProtocolError(
                    f"index {index} is out of range: {len(self.held)} "
                    "region(s) held; hold one first")
            region = self.held[index]
            return {"sha256": ops.sha256_hex(region), "size": region.size,
                    "index": index}

    def _write_consistent(self, request: Mapping[str, Any]) -> Reply:
        offset = _optional(request, "offset", int, 0)
        if "hex" in request:
            data = bytes.fromhex(_field(request, "hex", str))
        else:
            data = sync_ops.u64_words(_field(request, "fill_u64", int),
                                      _field(request, "count", int))
        with attach(_field(request, "region", dict)) as region:
            seq = region.write_consistent(offset, data, _timeout_s(request))
            return {"bytes": len(data), "seq": seq}

    def _read_consistent(self, request: Mapping[str, Any]) -> Reply:
        offset = _optional(request, "offset", int, 0)
        length = _field(request, "length", int)
        with attach(_field(request, "region", dict)) as region:
            snapshot = region.read_snapshot(offset, length,
                                            _timeout_s(request))
            return {"sha256": hashlib.sha256(snapshot.data).hexdigest(),
                    "seq": snapshot.seq}

    def _contend(self, request: Mapping[str, Any]) -> Reply:
        with attach(_field(request, "region", dict)) as region:
            return dict(sync_ops.contend(
                region, _field(request, "role", str),
                float(_field(request, "seconds", (int, float))),
                _field(request, "words", int),
                writer_id=_optional(request, "writer_id", int, 0),
                offset=_optional(request, "offset", int, 0),
                raw=_optional(request, "raw", bool, False),
                timeout_s=_timeout_s(request)))

    def _exit(self, request: Mapping[str, Any]) -> Reply:
        raise ExitRequested()


def format_ok(values: Mapping[str, Any]) -> str:
    """``ok k=v ...``; floats with repr, no value may contain whitespace."""
    parts = ["ok"]
    for key, value in values.items():
        text = repr(value) if isinstance(value, float) else str(value)
        if not text or any(ch.isspace() for ch in text):
            raise ValueError(f"reply value for {key} has whitespace: {text!r}")
        parts.append(f"{key}={text}")
    return " ".join(parts)


def format_error(code: str, message: str) -> str:
    """``error <code> <message>`` on one line."""
    flat = " ".join(str(message).split()) or "no message"
    return f"error {code} {flat}"


def _decode(line: str) -> Mapping[str, Any]:
    if not line.strip():
        raise ProtocolError(
            "empty request line; send one JSON object per line")
    try:
        request = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"request is not valid JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise ProtocolError("request must be a JSON object with an op key")
    return request


def _field(request: Mapping[str, Any], key: str, kind: Any) -> Any:
    if key not in request:
        raise ProtocolError(f"request is missing {key!r}")
    value = request[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ProtocolError(f"request field {key!r} has the wrong type "
                            f"{type(value).__name__}")
    return value


def _optional(request: Mapping[str, Any], key: str, kind: Any,
              default: Any) -> Any:
    """``request[key]`` checked like :func:`_field`, or ``default``."""
    if key not in request:
        return default
    value = request[key]
    if kind is bool:
        if not isinstance(value, bool):
            raise ProtocolError(f"request field {key!r} must be true or "
                                f"false, got {type(value).__name__}")
        return value
    return _field(request, key, kind)


def _timeout_s(request: Mapping[str, Any]) -> float:
    """The optional ``timeout_ms`` field (default 5000) in seconds."""
    timeout_ms: int = _optional(request, "timeout_ms", int, 5000)
    if timeout_ms < 0:
        raise ProtocolError(f"timeout_ms must be >= 0, got {timeout_ms}")
    return timeout_ms / 1000


def serve(stdin: BinaryIO, stdout: TextIO) -> int:
    """Serve requests from binary ``stdin`` until EOF or exit; returns the
    exit status (always 0). The process profile: one request at a time."""
    worker = Worker()
    try:
        for raw in stdin:
            line = raw.decode("utf-8", errors="replace")
            try:
                reply = worker.handle_line(line)
            except ExitRequested:
                _write(stdout, "ok exit=0")
                return 0
            _write(stdout, reply)
        return 0
    finally:
        worker.close_held()


NO_REQ = "-"
"""Prefix of a thread-profile reply to a line without a usable ``req``."""


class _LineWriter:
    """Writes whole reply lines from many threads; remembers a reader that
    went away instead of failing every thread."""

    def __init__(self, stdout: TextIO) -> None:
        self._stdout = stdout
        self._lock = threading.Lock()
        self.broken = False

    def write(self, line: str) -> None:
        with self._lock:
            if self.broken:
                return
            try:
                _write(self._stdout, line)
            except BrokenPipeError:
                self.broken = True


Tagged = Tuple[int, Mapping[str, Any]]


def tagged_request(line: str) -> Tagged:
    """The ``req`` id and the request of a thread-profile line.

    Raises:
        ProtocolError: not a JSON object, or ``req`` missing or not a
            non-negative integer.
    """
    request = _decode(line)
    if "req" not in request:
        raise ProtocolError("missing req")
    req = request["req"]
    if isinstance(req, bool) or not isinstance(req, int) or req < 0:
        raise ProtocolError(f"req must be a non-negative integer, got "
                            f"{json.dumps(req)}")
    return req, request


def serve_threads(stdin: BinaryIO, stdout: TextIO, threads: int) -> int:
    """Serve the thread profile: ``threads`` threads answer requests
    concurrently, each reply prefixed by its request's ``req``; one Worker
    and one segment cache for all. Returns 0 at EOF or after ``exit``
    (once the requests read before it are answered).

    Raises:
        BrokenPipeError: the reader of stdout went away (``run`` ends the
            process with status 0).
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or \
            threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    worker = Worker(threads=threads)
    out = _LineWriter(stdout)
    requests: "queue.Queue[Optional[Tagged]]" = queue.Queue()
    pool = [threading.Thread(target=_serve_queue, args=(worker, requests, out),
                             name=f"snakepit_shm-worker-{index}", daemon=True)
            for index in range(threads)]
    for thread in pool:
        thread.start()
    exit_req: Optional[int] = None
    for raw in stdin:
        try:
            req, request = tagged_request(raw.decode("utf-8",
                                                     errors="replace"))
        except ShmError as exc:
            out.write(f"{NO_REQ} {format_error(exc.code, exc.message)}")
            continue
        if request.get("op") == "exit":
            exit_req = req
            break
        requests.put((req, request))
    for _ in pool:
        requests.put(None)               # after every request read so far
    for thread in pool:
        thread.join()
    worker.close_held()
    if exit_req is not None:
        out.write(f"{exit_req} ok exit=0")
    if out.broken:
        raise BrokenPipeError("the reader of the worker's stdout went away")
    return 0


def _serve_queue(worker: Worker, requests: "queue.Queue[Optional[Tagged]]",
                 out: _LineWriter) -> None:
    """One thread of the thread profile: answer requests until None."""
    while True:
        item = requests.get()
        if item is None:
            return
        req, request = item
        try:
            reply = worker.handle_request(request)
        except ExitRequested:            # pragma: no cover - main takes exit
            reply = format_error("invalid_request", "exit is handled by "
                                 "the main thread")
        out.write(f"{req} {reply}")


def _write(stdout: TextIO, line: str) -> None:
    stdout.write(line + "\n")
    stdout.flush()


def _thread_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"--threads needs an integer >= 1, got {text!r}")
    return value


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The worker's command line: ``[--threads N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m snakepit_shm.worker",
        description="snakepit-shm line-protocol worker (JSON requests on "
                    "stdin, one reply line each on stdout)")
    parser.add_argument(
        "--threads", type=_thread_count, default=None, metavar="N",
        help="thread worker profile: N threads sharing one segment cache; "
             "requests carry \"req\" and replies are prefixed by it")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: protocol on the real stdout, stray prints to stderr."""
    args = parse_args(argv)
    if args.threads is None:
        return run(serve)
    threads: int = args.threads

    def serve_n(stdin: BinaryIO, stdout: TextIO) -> int:
        return serve_threads(stdin, stdout, threads)

    return run(serve_n)


def run(serve_fn: Callable[[BinaryIO, TextIO], int],
        name: str = "snakepit_shm.worker") -> int:
    """Runs ``serve_fn(stdin, protocol_out)`` as a worker process does.

    The protocol goes to the real stdout; stray prints and logs go to
    stderr; a reader that went away (BrokenPipeError) or Ctrl-C end the
    worker with status 0. Workers that extend the protocol (tests, soaks)
    reuse this entry point with their own serve.
    """
    protocol_out = sys.stdout
    sys.stdout = sys.stderr
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO,
        format=name + " %(levelname)s %(name)s: %(message)s")
    print(f"{name}: serving pid={os.getpid()}", file=sys.stderr)
    try:
        return serve_fn(sys.stdin.buffer, protocol_out)
    except BrokenPipeError:
        # The reader went away: silence the final flush at interpreter exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, protocol_out.fileno())
        return 0
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
