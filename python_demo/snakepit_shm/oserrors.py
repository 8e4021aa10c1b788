"""Translation of ``OSError`` from open/fstat/pread/mmap into typed errors.

One place decides which errno becomes which :mod:`snakepit_shm.errors`
class, so attach and the windowed mapper report the same failure the same
way.
"""

from __future__ import annotations

import errno
from typing import Optional

from .descriptor import Descriptor
from .errors import (AccessDeniedError, InvalidRegionError, PlatformError,
                     ShmError, StaleDescriptorError)

ENOMEM_REMEDIATION = ("free address space (close regions, drop arrays) or "
                      "raise the address-space limit (ulimit -v, RLIMIT_AS) "
                      "or vm.max_map_count")


def os_error(exc: OSError, desc: Descriptor, operation: str) -> ShmError:
    """The typed error for ``exc`` raised by ``operation`` on ``desc``.

    ENOENT is stale, ELOOP a refused symlink, EACCES/EPERM access denied;
    anything else is :class:`PlatformError` (``platform_error``) with
    ``details["errno"]``.
    """
    detail = f"{desc.label()}: {operation} failed: {exc.strerror or exc}"
    if exc.errno == errno.ENOENT:
        return StaleDescriptorError(
            f"{desc.label()}: segment file does not exist (the region's "
            "segment was released)",
            remediation="allocate or acquire a fresh descriptor",
            errno=exc.errno)
    if exc.errno == errno.ELOOP:
        return InvalidRegionError(
            f"{desc.label()}: path is a symbolic link, refused (O_NOFOLLOW)",
            remediation="use the descriptor's path unchanged",
            errno=exc.errno)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDeniedError(
            detail,
            remediation="attach as the same OS user as the manager "
                        "(segments are mode 0600)",
            errno=exc.errno)
    remediation: Optional[str] = None
    if exc.errno == errno.ENOMEM:
        remediation = ENOMEM_REMEDIATION
    return PlatformError(detail, remediation=remediation, errno=exc.errno)


def errno_name(code: Optional[int]) -> str:
    """``"ENOMEM"`` for 12, ``"errno 99999"`` for an unknown code."""
    if code is None:
        return "errno ?"
    return errno.errorcode.get(code, f"errno {code}")


def address_space_limit_bytes() -> Optional[int]:
    """The soft RLIMIT_AS in bytes, or None when unlimited or unknown."""
    try:
        import resource
    except ImportError:      # pragma: no cover - not POSIX
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft
