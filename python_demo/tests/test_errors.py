"""Stale descriptors, broken segments and OS refusals raise typed errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any, Dict

import pytest

from conftest import subprocess_env
from segment_builder import (R_LAYOUT, R_MAGIC, R_PAYLOAD_BYTES,
                             R_PAYLOAD_OFFSET, RegionSpec, poke_region_field,
                             poke_segment_field, set_region_state,
                             write_segment)
from snakepit_shm import (AccessDeniedError, InvalidRegionError, ShmError,
                          StaleDescriptorError, attach)


def one_region(shm_dir: str, **spec: Any) -> Dict[str, Any]:
    values: Dict[str, Any] = dict(size=256, region_id=0x2A, generation=9)
    values.update(spec)
    return write_segment(shm_dir, [RegionSpec(**values)],
                         segment_bytes=8192)[0]


def assert_names_region(error: ShmError, desc: Dict[str, Any]) -> None:
    assert f"id={desc['id']}" in error.message
    assert f"generation={desc['generation']}" in error.message
    assert desc["path"] in error.message
    assert error.remediation


def test_other_generation_is_stale(shm_dir: str) -> None:
    desc = one_region(shm_dir, generation=10)
    with pytest.raises(StaleDescriptorError) as info:
        attach(dict(desc, generation=9))
    assert info.value.code == "not_found"
    assert "generation=10" in info.value.message
    assert info.value.details["found_generation"] == 10
    assert_names_region(info.value, dict(desc, generation=9))


def test_other_id_is_stale(shm_dir: str) -> None:
    desc = one_region(shm_dir)
    with pytest.raises(StaleDescriptorError) as info:
        attach(dict(desc, id="000000000000002b"))
    assert "id=000000000000002a" in info.value.message


def test_freed_region_is_stale(shm_dir: str) -> None:
    desc = one_region(shm_dir, state=2)
    with pytest.raises(StaleDescriptorError, match="freed") as info:
        attach(desc)
    assert_names_region(info.value, desc)


def test_missing_segment_file_is_stale(shm_dir: str) -> None:
    desc = one_region(shm_dir)
    os.unlink(desc["path"])            # as the manager does on release
    with pytest.raises(StaleDescriptorError, match="does not exist"):
        attach(desc)


@pytest.mark.parametrize("field, fmt, value, fragment", [
    (0, "<8s", b"NOTASEG!", "segment magic"),
    (8, "<I", 2, "segment layout version is 2"),
    (12, "<I", 512, "header_bytes is 512"),
    (24, "<I", 7, "segment kind is 7"),
    (16, "<Q", 512, "segment_bytes=512"),
])
def test_bad_segment_header_is_invalid_region(
        shm_dir: str, field: int, fmt: str, value: Any, fragment: str) -> None:
    desc = one_region(shm_dir)
    poke_segment_field(desc["path"], field, fmt, value)   # CRC stays right
    with pytest.raises(InvalidRegionError) as info:
        attach(desc)
    assert info.value.code == "invalid_region"
    assert fragment in info.value.message
    assert_names_region(info.value, desc)


@pytest.mark.parametrize("field, fmt, value, fragment", [
    (R_MAGIC, "<4s", b"XXXX", "no region header"),
    (R_LAYOUT, "<H", 2, "region layout version is 2"),
    (R_PAYLOAD_BYTES, "<Q", 255, "payload_bytes=255"),
    (R_PAYLOAD_OFFSET, "<Q", 64, "payload_offset=64"),
])
def test_bad_region_header_is_invalid_region(
        shm_dir: str, field: int, fmt: str, value: Any, fragment: str) -> None:
    desc = one_region(shm_dir)
    poke_region_field(desc, field, fmt, value)            # CRC stays right
    with pytest.raises(InvalidRegionError) as info:
        attach(desc)
    assert fragment in info.value.message
    assert_names_region(info.value, desc)


@pytest.mark.parametrize("state", [0, 3, 9])
def test_state_neither_live_nor_freed_is_invalid_region(
        shm_dir: str, state: int) -> None:
    desc = one_region(shm_dir)
    set_region_state(desc, state)
    with pytest.raises(InvalidRegionError, match="region state is"):
        attach(desc)


def test_offset_pointing_elsewhere_is_invalid_region(shm_dir: str) -> None:
    desc = one_region(shm_dir)
    with pytest.raises(InvalidRegionError, match="no region header"):
        attach(dict(desc, offset=desc["offset"] + 64))


def test_region_beyond_the_file_is_invalid_region(shm_dir: str) -> None:
    desc = one_region(shm_dir)
    for changes in ({"size": 8192}, {"offset": 8192},
                    {"offset": 1 << 40}):
        with pytest.raises(InvalidRegionError, match="only 8192 bytes"):
            attach(dict(desc, **changes))


def test_symlink_is_refused(shm_dir: str) -> None:
    desc = one_region(shm_dir)
    link = os.path.join(shm_dir, "snklink")
    os.symlink(desc["path"], link)
    with pytest.raises(InvalidRegionError, match="symbolic link"):
        attach(dict(desc, path=link, segment="/snklink"))


def test_directory_is_refused(shm_dir: str) -> None:
    desc = one_region(shm_dir)
    with pytest.raises(InvalidRegionError, match="not a regular file"):
        attach(dict(desc, path=shm_dir, segment=None, access="read_only"))
    with pytest.raises(ShmError) as info:
        attach(dict(desc, path=shm_dir, segment=None))
    assert info.value.code in ("platform_error", "invalid_region")


def test_error_to_dict_has_contract_keys(shm_dir: str) -> None:
    desc = one_region(shm_dir, state=2)
    with pytest.raises(ShmError) as info:
        attach(desc)
    as_map = info.value.to_dict()
    assert as_map["code"] == "not_found"
    assert {"code", "message", "remediation"} <= set(as_map)
    assert desc["id"] in str(info.value)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to run as another user")
def test_other_user_is_access_denied(shm_dir: str) -> None:
    desc = one_region(shm_dir)
    os.chmod(shm_dir, 0o755)           # the file itself stays 0600
    script = (
        "import json, sys\n"
        "from snakepit_shm import attach, ShmError\n"
        "try:\n"
        "    attach(json.loads(sys.argv[1]))\n"
        "except ShmError as e:\n"
        "    print(type(e).__name__, e.code, e.details.get('errno'))\n")
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-c", script, json.dumps(desc)],
        env=subprocess_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    name, code, errno_value = result.stdout.split()
    assert (name, code) == (AccessDeniedError.__name__, "forbidden")
    assert int(errno_value) == 13
