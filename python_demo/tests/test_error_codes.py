"""errors.py mirrors every node error code with a class, the local classes
refine them, ``ShmError.from_reply`` maps node error maps to the right
class, and the module docstring and README document the table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Type

import pytest

import snakepit_shm
from segment_builder import RegionSpec, write_segment
from snakepit_shm import errors
from snakepit_shm.errors import (ERROR_CLASSES, NODE_ERROR_CODES,
                                 AccessDeniedError, AddressSpaceError,
                                 BusyError, ForbiddenError,
                                 InvalidDescriptorError, InvalidRegionError,
                                 InvalidRequestError, LimitExceededError,
                                 LockTimeoutError, LockUnsupportedError,
                                 NoSpaceError,
                                 NotFoundError, PlatformError,
                                 ReadOnlyRegionError, RegionBusyError,
                                 RegionUsageError, ShmError,
                                 ShmTimeoutError, StaleDescriptorError,
                                 error_class, from_reply)

PYTHON_DEMO = Path(__file__).resolve().parents[1]
REPO = PYTHON_DEMO.parent

LOCAL_CLASSES: Dict[Type[ShmError], Type[ShmError]] = {
    InvalidDescriptorError: InvalidRequestError,
    RegionUsageError: InvalidRequestError,
    StaleDescriptorError: NotFoundError,
    ReadOnlyRegionError: ForbiddenError,
    AccessDeniedError: ForbiddenError,
    AddressSpaceError: NoSpaceError,
    LockTimeoutError: ShmTimeoutError,
    RegionBusyError: BusyError,
    LockUnsupportedError: PlatformError,
}


def elixir_codes() -> list:
    """The codes the Elixir client (SnakepitShm.Error) lists, in order."""
    source = (REPO / "elixir_demo/lib/snakepit_shm/error.ex").read_text()
    block = re.search(r"@codes \[(.*?)\]", source, re.S)
    assert block is not None
    return re.findall(r":(\w+)", block.group(1))


def test_every_node_code_has_its_own_class() -> None:
    assert list(NODE_ERROR_CODES) == elixir_codes()
    assert list(ERROR_CLASSES) == list(NODE_ERROR_CODES)
    classes = list(ERROR_CLASSES.values())
    assert len(set(classes)) == len(classes)
    for code, cls in ERROR_CLASSES.items():
        assert issubclass(cls, ShmError)
        assert cls.__bases__ == (ShmError,)
        assert cls("boom").code == code
        assert error_class(code) is cls
        assert error_class(f":{code}") is cls
        assert getattr(snakepit_shm, cls.__name__) is cls


def test_local_classes_refine_a_code_class() -> None:
    for local, base in LOCAL_CLASSES.items():
        assert local.__bases__ == (base,)
        assert local("boom").code == base("boom").code
        assert getattr(snakepit_shm, local.__name__) is local
    assert InvalidRegionError.__bases__ == (ShmError,)
    assert ShmError("boom").code == "platform_error"


@pytest.mark.parametrize("code", NODE_ERROR_CODES)
def test_from_reply_gives_the_class_of_each_code(code: str) -> None:
    reply = {"code": code, "message": f"{code} happened",
             "remediation": "do something", "limit": 3, "call": "allocate"}
    error = ShmError.from_reply(reply)
    assert type(error) is ERROR_CLASSES[code]
    assert (error.code, error.message, error.remediation) == (
        code, f"{code} happened", "do something")
    assert error.details == {"limit": 3, "call": "allocate"}
    assert error.to_dict() == reply
    assert from_reply(reply).to_dict() == reply
    with pytest.raises(ERROR_CLASSES[code]):
        raise ShmError.from_reply(reply)


@pytest.mark.parametrize("reason, cls", [
    ("freed", StaleDescriptorError),
    ("stale_generation", StaleDescriptorError),
    (":freed", StaleDescriptorError),
    ("unknown", NotFoundError),
    (None, NotFoundError),
])
def test_not_found_with_a_stale_reason_is_a_stale_descriptor(
        reason: Any, cls: Type[ShmError]) -> None:
    reply: Dict[str, Any] = {"code": "not_found", "message": "gone",
                             "remediation": None}
    if reason is not None:
        reply["reason"] = reason
    error = ShmError.from_reply(reply)
    assert type(error) is cls
    assert isinstance(error, NotFoundError) and error.code == "not_found"


@pytest.mark.parametrize("code", [":busy", b"busy", " busy "])
def test_codes_spelled_as_atoms_or_bytes(code: Any) -> None:
    error = ShmError.from_reply({"code": code, "message": b"try later",
                                 "remediation": b"wait"})
    assert type(error) is BusyError
    assert (error.message, error.remediation) == ("try later", "wait")


def test_an_unknown_code_keeps_its_code() -> None:
    error = ShmError.from_reply({"code": "node_down", "message": "no node"})
    assert type(error) is ShmError and error.code == "node_down"
    assert error.remediation is None


def test_a_missing_message_is_named() -> None:
    error = ShmError.from_reply({"code": "timeout"})
    assert type(error) is ShmTimeoutError
    assert "timeout" in error.message and "no message" in error.message


@pytest.mark.parametrize("reply", [None, "not_found", {"message": "x"},
                                   {"code": ""}, {"code": 7}])
def test_a_map_without_a_usable_code_is_an_invalid_request(
        reply: Any) -> None:
    with pytest.raises(InvalidRequestError, match="error map"):
        ShmError.from_reply(reply)


def test_details_may_have_any_keys() -> None:
    reply: Dict[Any, Any] = {"code": "limit_exceeded", "message": "m",
                             1: "one", "code point": 2}
    error = ShmError.from_reply(reply)
    assert type(error) is LimitExceededError
    assert error.details == {1: "one", "code point": 2}


def test_a_local_error_round_trips_through_its_map(shm_dir: str) -> None:
    [desc] = write_segment(shm_dir, [RegionSpec(size=64, region_id=1,
                                                generation=2, state=2)])
    with pytest.raises(StaleDescriptorError) as info:
        snakepit_shm.attach(desc)
    again = ShmError.from_reply(info.value.to_dict())
    assert isinstance(again, NotFoundError)
    assert (again.code, again.message, again.remediation) == (
        info.value.code, info.value.message, info.value.remediation)


def test_os_failures_are_platform_errors() -> None:
    assert issubclass(PlatformError, ShmError)
    from snakepit_shm.descriptor import parse_descriptor
    from snakepit_shm.oserrors import os_error
    desc = parse_descriptor({
        "id": "00000000000000a1", "generation": 1, "segment": "/snkx",
        "path": "/dev/shm/snkx", "offset": 320, "size": 64,
        "access": "read_write", "tenant": None, "session": None})
    error = os_error(OSError(5, "Input/output error"), desc, "read")
    assert type(error) is PlatformError and error.details["errno"] == 5


@pytest.mark.parametrize("document", [
    "snakepit_shm/errors.py", "README.md"])
def test_the_table_is_documented(document: str) -> None:
    text = (PYTHON_DEMO / document).read_text()
    if document.endswith(".py"):
        text = errors.__doc__ or ""
    for code, cls in ERROR_CLASSES.items():
        assert re.search(rf"`{cls.__name__}`.*`{code}`", text), cls
    for local, base in LOCAL_CLASSES.items():
        assert re.search(rf"`{local.__name__}`.*`{base.__name__}`", text), \
            local
    assert "from_reply" in text
