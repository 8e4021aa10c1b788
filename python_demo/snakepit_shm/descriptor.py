"""Validation of region descriptors (CONTRACT section 3).

A descriptor is the map the manager hands out; Python receives it as a dict::

    {"id": "00000000000000a1", "generation": 7, "segment": "/snk...",
     "path": "/dev/shm/snk...", "offset": 320, "size": 4096,
     "access": "read_write", "tenant": None, "session": None}

This module only checks the dict's shape; whether the file agrees is checked
by :mod:`snakepit_shm.region` when attaching.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Mapping, NoReturn, Optional

from .errors import InvalidDescriptorError
from .layout import FIRST_PAYLOAD_OFFSET, PAYLOAD_ALIGNMENT_BYTES

ACCESS_READ_WRITE = "read_write"
ACCESS_READ_ONLY = "read_only"
ACCESS_MODES = (ACCESS_READ_WRITE, ACCESS_READ_ONLY)

REQUIRED_KEYS = ("id", "generation", "path", "offset", "size", "access")
"""Keys a descriptor must carry; ``segment``, ``tenant`` and ``session`` may
be absent or ``None``."""

_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
_U64_MAX = (1 << 64) - 1
_REMEDIATION = ("pass the descriptor map exactly as the manager returned it "
                "(allocate/acquire), with the keys of CONTRACT section 3")


@dataclass(frozen=True)
class Descriptor:
    """A validated descriptor."""

    id: str
    generation: int
    path: str
    offset: int
    size: int
    access: str
    segment: Optional[str] = None
    tenant: Optional[str] = None
    session: Optional[str] = None

    @property
    def region_id(self) -> int:
        """The id as the u64 stored in the region header."""
        return int(self.id, 16)

    @property
    def read_only(self) -> bool:
        """True for ``access == "read_only"``."""
        return self.access == ACCESS_READ_ONLY

    def as_dict(self) -> dict[str, Any]:
        """The descriptor as a plain dict with the contract's keys."""
        return {"id": self.id, "generation": self.generation,
                "segment": self.segment, "path": self.path,
                "offset": self.offset, "size": self.size,
                "access": self.access, "tenant": self.tenant,
                "session": self.session}

    def label(self) -> str:
        """Short text naming the region, for error messages."""
        return (f"region id={self.id} generation={self.generation} "
                f"path={self.path} offset={self.offset} size={self.size}")


def parse_descriptor(descriptor: Mapping[str, Any]) -> Descriptor:
    """Check ``descriptor`` and return it as a :class:`Descriptor`.

    Raises:
        InvalidDescriptorError: a key is missing or a value has the wrong
            type or range (code ``invalid_request``).
    """
    if isinstance(descriptor, Descriptor):
        return descriptor
    if not isinstance(descriptor, Mapping):
        _fail("a descriptor must be a mapping, got "
              f"{type(descriptor).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in descriptor]
    if missing:
        _fail(f"descriptor is missing key(s) {', '.join(missing)}")

    region_id = _text(descriptor, "id")
    if not _ID_PATTERN.fullmatch(region_id):
        _fail("descriptor id must be 16 lowercase hex digits, got "
              f"{region_id!r}")
    generation = _integer(descriptor, "generation", 0, _U64_MAX)
    path = _text(descriptor, "path")
    if not os.path.isabs(path) or "\0" in path:
        _fail(f"descriptor path must be an absolute file path, got {path!r}")
    offset = _integer(descriptor, "offset", FIRST_PAYLOAD_OFFSET, _U64_MAX)
    if offset % PAYLOAD_ALIGNMENT_BYTES:
        _fail(f"descriptor offset {offset} is not a multiple of "
              f"{PAYLOAD_ALIGNMENT_BYTES}; payload offsets always are")
    size = _integer(descriptor, "size", 0, _U64_MAX - offset)
    access = _text(descriptor, "access")
    if access not in ACCESS_MODES:
        _fail(f"descriptor access must be 'read_write' or 'read_only', "
              f"got {access!r}")
    segment = _optional_text(descriptor, "segment")
    if segment is not None and not segment_names_file(segment, path):
        _fail(f"descriptor segment {segment!r} does not name the file at "
              f"path {path!r} (expected '/' + the file name, or a Windows "
              f"namespace such as 'Local\\' + the file name)")
    return Descriptor(
        id=region_id, generation=generation, path=path, offset=offset,
        size=size, access=access, segment=segment,
        tenant=_optional_text(descriptor, "tenant"),
        session=_optional_text(descriptor, "session"))


def segment_names_file(segment: str, path: str) -> bool:
    """True when ``segment`` is the POSIX name of the file at ``path``
    (``"/" + file name``) or a Windows section name for it
    (``Namespace\\`` + file name, e.g. ``Local\\snk...``; the namespace
    non-empty, without ``/``)."""
    base = os.path.basename(path)
    if segment == "/" + base:
        return True
    namespace, separator, name = segment.rpartition("\\")
    return (bool(separator) and bool(namespace) and name == base
            and "/" not in namespace and "\0" not in namespace)


def _fail(message: str) -> NoReturn:
    raise InvalidDescriptorError(message, remediation=_REMEDIATION)


def _text(descriptor: Mapping[str, Any], key: str) -> str:
    value = descriptor[key]
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            _fail(f"descriptor {key} is not valid UTF-8")
    if not isinstance(value, str):
        _fail(f"descriptor {key} must be a string, got "
              f"{type(value).__name__}")
    return value


def _optional_text(descriptor: Mapping[str, Any], key: str) -> Optional[str]:
    if descriptor.get(key) is None:
        return None
    return _text(descriptor, key)


def _integer(descriptor: Mapping[str, Any], key: str, low: int,
             high: int) -> int:
    value = descriptor[key]
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(f"descriptor {key} must be an integer, got "
              f"{type(value).__name__}")
    if not low <= value <= high:
        _fail(f"descriptor {key} {value} is out of range [{low}, {high}]")
    return value
