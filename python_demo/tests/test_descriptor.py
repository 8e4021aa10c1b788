"""Malformed descriptor dicts are refused before any file is touched."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from snakepit_shm import InvalidDescriptorError, attach, parse_descriptor

GOOD: Dict[str, Any] = {
    "id": "00000000000000a1", "generation": 7, "segment": "/snkabc",
    "path": "/dev/shm/snkabc", "offset": 320, "size": 4096,
    "access": "read_write", "tenant": None, "session": None}


def with_changes(**changes: Any) -> Dict[str, Any]:
    result = dict(GOOD)
    for key, value in changes.items():
        if value is KeyError:
            del result[key]
        else:
            result[key] = value
    return result


def test_good_descriptor_parses() -> None:
    desc = parse_descriptor(GOOD)
    assert desc.region_id == 0xA1
    assert desc.as_dict() == GOOD
    assert not desc.read_only


def test_optional_keys_may_be_missing_and_bytes_are_decoded() -> None:
    desc = parse_descriptor(with_changes(
        segment=KeyError, tenant=b"acme", session=KeyError,
        path=b"/dev/shm/snkabc", access=b"read_only"))
    assert desc.tenant == "acme" and desc.session is None
    assert desc.path == "/dev/shm/snkabc" and desc.read_only


@pytest.mark.parametrize("changes, fragment", [
    ({"id": KeyError}, "missing key(s) id"),
    ({"size": KeyError, "path": KeyError}, "path, size"),
    ({"id": "A1"}, "16 lowercase hex"),
    ({"id": "00000000000000A1"}, "16 lowercase hex"),
    ({"id": 161}, "id must be a string"),
    ({"generation": -1}, "generation -1 is out of range"),
    ({"generation": "7"}, "generation must be an integer"),
    ({"generation": True}, "generation must be an integer"),
    ({"offset": 100}, "offset 100 is out of range"),
    ({"offset": 384 + 8}, "not a multiple of 64"),
    ({"offset": 320.0}, "offset must be an integer"),
    ({"size": -5}, "size -5 is out of range"),
    ({"path": "relative/snkabc"}, "absolute file path"),
    ({"path": None}, "path must be a string"),
    ({"access": "write"}, "access must be"),
    ({"access": None}, "access must be a string"),
    ({"segment": "/snkother"}, "does not name the file"),
    ({"tenant": 5}, "tenant must be a string"),
])
def test_malformed_descriptor_is_invalid_request(
        changes: Dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidDescriptorError) as info:
        attach(with_changes(**changes))
    assert info.value.code == "invalid_request"
    assert fragment in info.value.message
    assert info.value.remediation


@pytest.mark.parametrize("value", [None, "descriptor", ["id"], 42])
def test_non_mapping_is_invalid_request(value: Any) -> None:
    with pytest.raises(InvalidDescriptorError, match="must be a mapping"):
        attach(value)
