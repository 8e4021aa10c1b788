"""How segments are opened (snakepit_shm.openers): by path (Linux), by
POSIX shm name (macOS), as named sections (Windows).

The by-name opener runs here for real: on Linux ``shm_open("/NAME")``
opens ``/dev/shm/NAME``, so these tests create segments directly in
/dev/shm (named ``snktest-py-byname-<random>``, which the session check of
conftest.py also looks for) and remove them when the test ends, pass or
fail. ``PosixShmOpener("darwin")`` runs the macOS rules (identity from
the segment header, header read through a mapping, no write locks)
against the same real objects. The Windows opener cannot run here; its
naming rules and its error off Windows are tested."""

from __future__ import annotations

import os
import secrets
from typing import Any, Callable, Dict, Iterator, List

import pytest

from conftest import SHM_ROOT, TEST_DIR_PREFIX
from segment_builder import (S_CREATED_MS, RegionSpec, pattern,
                             poke_segment_field, read_file, write_segment)
from snakepit_shm import (InvalidDescriptorError, InvalidRequestError,
                          LockUnsupportedError, PlatformError,
                          StaleDescriptorError, attach, parse_descriptor)
from snakepit_shm.openers import (MACOS_LOCKS_UNSUPPORTED, OPEN_BY_ENV,
                                  PATH_OPENER, WINDOWS_LOCKS_UNSUPPORTED,
                                  PathOpener, PosixShmOpener,
                                  WindowsSectionOpener, platform_opener,
                                  posix_shm_name, resolve_opener,
                                  windows_section_name)
from snakepit_shm.segments import SegmentCache, default_cache
from test_segments import fds_on, mappings_of

BY_NAME_PREFIX = TEST_DIR_PREFIX + "byname-"
SEGMENT_BYTES = 1 << 20

MakeSegment = Callable[..., List[Dict[str, Any]]]


@pytest.fixture(autouse=True)
def cache_is_empty_afterwards() -> Iterator[None]:
    """Every test leaves the process-wide cache as it found it: empty."""
    assert default_cache().snapshot() == []
    yield
    assert default_cache().snapshot() == []


@pytest.fixture
def dev_shm(monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeSegment]:
    """``make(regions, name=None)`` writes a segment directly in /dev/shm
    (where ``shm_open`` finds it) and returns its descriptors; every file
    made is removed when the test ends, pass or fail."""
    if not (os.path.isdir(SHM_ROOT) and os.access(SHM_ROOT, os.W_OK)):
        pytest.skip("/dev/shm is not a writable directory")
    monkeypatch.delenv(OPEN_BY_ENV, raising=False)
    made: List[str] = []

    def make(regions: List[RegionSpec], name: str = "") -> List[Dict]:
        name = name or BY_NAME_PREFIX + secrets.token_hex(6)
        made.append(os.path.join(SHM_ROOT, name))    # before it exists
        return write_segment(SHM_ROOT, regions, name=name,
                             segment_bytes=SEGMENT_BYTES)

    try:
        yield make
    finally:
        for path in made:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    assert not [path for path in made if os.path.exists(path)]


def three_regions(make: MakeSegment) -> List[Dict[str, Any]]:
    return make([RegionSpec(size=1000, region_id=index + 1, generation=1)
                 for index in range(3)])


def remove(desc: Dict[str, Any]) -> None:
    """What the manager does when it destroys a segment (the fixture would
    remove it anyway)."""
    os.unlink(desc["path"])


# --- naming rules -----------------------------------------------------------


def desc_with(segment: Any, path: str = "/dev/shm/snkabc") -> Any:
    return parse_descriptor({"id": "0000000000000001", "generation": 1,
                             "segment": segment, "path": path,
                             "offset": 320, "size": 8,
                             "access": "read_write"})


def test_posix_names_are_the_segment_with_its_slash() -> None:
    assert posix_shm_name(desc_with("/snkabc")) == "/snkabc"
    assert posix_shm_name(desc_with(None)) == "/snkabc"
    assert posix_shm_name(desc_with("Local\\snkabc")) == "/snkabc"


def test_windows_names_get_local_unless_they_carry_a_namespace() -> None:
    assert windows_section_name(desc_with("/snkabc")) == "Local\\snkabc"
    assert windows_section_name(desc_with(None)) == "Local\\snkabc"
    assert windows_section_name(desc_with("Local\\snkabc")) == "Local\\snkabc"
    assert windows_section_name(desc_with("Global\\snkabc")) == \
        "Global\\snkabc"


def test_descriptors_accept_a_windows_namespace_for_the_same_name() -> None:
    assert desc_with("Global\\snkabc").segment == "Global\\snkabc"
    for wrong in ("Local\\snkother", "\\snkabc", "a/b\\snkabc", "snkabc",
                  "/snkother"):
        with pytest.raises(InvalidDescriptorError, match="does not name"):
            desc_with(wrong)


# --- selection --------------------------------------------------------------


def test_the_platform_chooses_path_on_linux_names_elsewhere() -> None:
    assert platform_opener("linux") is PATH_OPENER
    assert platform_opener("freebsd13") is PATH_OPENER
    mac = platform_opener("darwin")
    assert isinstance(mac, PosixShmOpener) and mac.open_by == "name"
    assert mac.locks_unsupported == MACOS_LOCKS_UNSUPPORTED
    windows = platform_opener("win32")
    assert isinstance(windows, WindowsSectionOpener)
    assert windows.locks_unsupported == WINDOWS_LOCKS_UNSUPPORTED
    assert PosixShmOpener("linux").locks_unsupported is None


def test_the_environment_and_the_argument_override_the_platform(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OPEN_BY_ENV, raising=False)
    assert resolve_opener(None, "linux") is PATH_OPENER
    monkeypatch.setenv(OPEN_BY_ENV, "name")
    assert isinstance(resolve_opener(None, "linux"), PosixShmOpener)
    assert isinstance(resolve_opener(None, "win32"), WindowsSectionOpener)
    assert resolve_opener("path", "linux") is PATH_OPENER    # argument wins
    mine = PosixShmOpener("darwin")
    assert resolve_opener(mine) is mine
    monkeypatch.setenv(OPEN_BY_ENV, "")
    assert resolve_opener(None, "darwin").open_by == "name"
    monkeypatch.setenv(OPEN_BY_ENV, "inode")
    with pytest.raises(InvalidRequestError,
                       match=f"{OPEN_BY_ENV}='inode'.*'path'.*'name'"):
        resolve_opener(None, "linux")
    with pytest.raises(InvalidRequestError, match="opener='by-name'"):
        resolve_opener("by-name")


def test_this_python_has_the_posixshmem_module() -> None:
    import _posixshmem
    assert callable(_posixshmem.shm_open)


# --- by name, for real, on Linux -------------------------------------------


def test_by_name_maps_each_segment_once_and_reads_its_bytes(
        dev_shm: MakeSegment) -> None:
    descs = three_regions(dev_shm)
    path = descs[0]["path"]
    regions = [attach(desc, opener="name") for desc in descs]
    try:
        for index, region in enumerate(regions):
            assert region.read(0, 1000) == pattern(index + 1, 1000)
        [entry] = default_cache().snapshot()
        assert (entry.open_by, entry.regions, entry.mapped_bytes) == \
            ("name", 3, SEGMENT_BYTES)
        assert fds_on(path) == 1                  # one per segment
        assert len(mappings_of(path)) == 1
        regions[1].write(0, b"by name")
        assert read_file(path, descs[1]["offset"], 7) == b"by name"
    finally:
        for region in regions:
            region.close()
    assert fds_on(path) == 0
    assert mappings_of(path) == []


def test_by_name_needs_no_path_that_exists(dev_shm: MakeSegment) -> None:
    [desc] = dev_shm([RegionSpec(size=64, region_id=7, generation=3)])
    name = os.path.basename(desc["path"])
    elsewhere = dict(desc, path="/no/such/dir/" + name)   # as on macOS
    with attach(elsewhere, opener="name") as region:
        assert region.read(0, 64) == pattern(7, 64)
    with pytest.raises(StaleDescriptorError):
        attach(elsewhere, opener="path")


def test_the_environment_variable_selects_by_name(
        dev_shm: MakeSegment, monkeypatch: pytest.MonkeyPatch) -> None:
    descs = three_regions(dev_shm)
    monkeypatch.setenv(OPEN_BY_ENV, "name")
    with attach(descs[0]) as region:
        assert region.read(0, 1000) == pattern(1, 1000)
        [entry] = default_cache().snapshot()
        assert entry.open_by == "name"
    monkeypatch.setenv(OPEN_BY_ENV, "nonsense")
    with pytest.raises(InvalidRequestError, match=OPEN_BY_ENV):
        attach(descs[0])


def test_by_path_and_by_name_share_one_entry_per_inode(
        dev_shm: MakeSegment) -> None:
    descs = three_regions(dev_shm)
    path = descs[0]["path"]
    with attach(descs[0]) as by_path, \
            attach(descs[1], opener="name") as by_name:
        [entry] = default_cache().snapshot()
        assert (entry.open_by, entry.regions) == ("path", 2)
        assert by_name.segment_regions == by_path.segment_regions == 2
        assert fds_on(path) == 1
        assert len(mappings_of(path)) == 1


def test_read_only_by_name_maps_read_only(dev_shm: MakeSegment) -> None:
    descs = three_regions(dev_shm)
    path = descs[0]["path"]
    with attach(dict(descs[2], access="read_only"), opener="name") as region:
        assert region.memoryview.readonly
        assert region.read(0, 1000) == pattern(3, 1000)
        assert [parts[1] for parts in mappings_of(path)] == ["r--s"]


def test_a_removed_segment_is_stale_by_name_and_old_regions_keep_it(
        dev_shm: MakeSegment) -> None:
    descs = three_regions(dev_shm)
    name = os.path.basename(descs[0]["path"])
    with attach(descs[0], opener="name") as region:
        remove(descs[0])
        with pytest.raises(StaleDescriptorError,
                           match=f"segment /{name} does not exist"):
            attach(descs[1], opener="name")
        assert region.read(0, 1000) == pattern(1, 1000)
        assert region.segment_regions == 1


def test_a_segment_replaced_under_its_name_gets_its_own_mapping(
        dev_shm: MakeSegment) -> None:
    descs = three_regions(dev_shm)
    name = os.path.basename(descs[0]["path"])
    with attach(descs[0], opener="name") as old:
        remove(descs[0])
        [new_desc] = dev_shm([RegionSpec(size=1000, region_id=1,
                                         generation=1, fill=b"n" * 1000)],
                             name=name)
        assert new_desc["offset"] == descs[0]["offset"]
        with attach(new_desc, opener="name") as new:
            assert len(default_cache().snapshot()) == 2
            assert new.read(0, 1000) == b"n" * 1000
            assert old.read(0, 1000) == pattern(1, 1000)


def test_windows_of_a_segment_opened_by_name(dev_shm: MakeSegment) -> None:
    [desc] = dev_shm([RegionSpec(size=20000, region_id=5, generation=1)])
    with attach(desc, max_window_bytes=4096, opener="name") as region:
        assert region.windowed
        assert region.read(0, 20000) == pattern(5, 20000)
        region.write(9000, b"windowed")
        assert read_file(desc["path"], desc["offset"] + 9000, 8) == \
            b"windowed"


def test_write_locks_work_by_name_on_linux(dev_shm: MakeSegment) -> None:
    [desc] = dev_shm([RegionSpec(size=64, region_id=1, generation=1,
                                 fill=bytes(64))])
    with attach(desc, opener="name") as region:
        assert region.write_consistent(0, b"locked") == 2
        assert region.read_consistent(0, 6) == b"locked"
        with region.write_lock(timeout_s=0):
            pass


# --- the macOS rules, run against /dev/shm ----------------------------------


def test_macos_rules_identify_segments_by_their_header(
        dev_shm: MakeSegment) -> None:
    mac = PosixShmOpener("darwin")
    descs = three_regions(dev_shm)
    path = descs[0]["path"]
    with attach(descs[0], opener=mac) as first, \
            attach(descs[1], opener=mac) as second:
        assert first._segment is second._segment
        assert first._segment.key.identity[0] == "header"
        assert second.read(0, 1000) == pattern(2, 1000)
        assert fds_on(path) == 1
        assert len(mappings_of(path)) == 1
        remove(descs[0])
        [again] = dev_shm([RegionSpec(size=1000, region_id=1, generation=1,
                                      fill=b"r" * 1000)],
                          name=os.path.basename(path))
        created_ms = int.from_bytes(read_file(path, S_CREATED_MS, 8),
                                    "little")
        poke_segment_field(path, S_CREATED_MS, "<Q", created_ms + 1)
        with attach(again, opener=mac) as replaced:    # another header
            assert replaced._segment is not first._segment
            assert replaced.read(0, 1000) == b"r" * 1000
        assert first.read(0, 1000) == pattern(1, 1000)
        remove(again)
        with pytest.raises(StaleDescriptorError):
            attach(descs[2], opener=mac)


def test_macos_rules_read_the_header_through_a_mapping(
        dev_shm: MakeSegment) -> None:
    [desc] = dev_shm([RegionSpec(size=20000, region_id=2, generation=1)])
    with attach(desc, max_window_bytes=4096,
                opener=PosixShmOpener("darwin")) as region:
        assert region.windowed
        assert region.read(0, 20000) == pattern(2, 20000)


def test_macos_rules_refuse_write_locks_with_a_clear_error(
        dev_shm: MakeSegment) -> None:
    [desc] = dev_shm([RegionSpec(size=64, region_id=1, generation=1,
                                 fill=bytes(64))])
    with attach(desc, opener=PosixShmOpener("darwin")) as region:
        calls = [lambda: region.write_consistent(0, b"x"),
                 lambda: region.read_consistent(0, 1),
                 lambda: region.write_lock().__enter__()]
        for call in calls:
            with pytest.raises(LockUnsupportedError) as caught:
                call()
            error = caught.value
            assert isinstance(error, PlatformError)
            assert error.code == "platform_error"
            assert "not supported on macOS" in error.message
            assert "write_consistent/5" in (error.remediation or "")
            assert error.details["open_by"] == "name"
        region.write(0, b"plain")                 # single-writer access works
        assert region.read(0, 5) == b"plain"


# --- Windows, off Windows ---------------------------------------------------


def test_the_windows_opener_off_windows_says_so(dev_shm: MakeSegment) -> None:
    [desc] = dev_shm([RegionSpec(size=64, region_id=1, generation=1)])
    cache = SegmentCache()
    with pytest.raises(PlatformError,
                       match=r"section Local\\snktest-py-byname-.*Windows "
                             r"only"):
        attach(desc, opener=WindowsSectionOpener(), cache=cache)
    assert cache.snapshot() == []


def test_this_linux_opens_by_path_by_default() -> None:
    assert platform_opener() is PATH_OPENER
    assert isinstance(PATH_OPENER, PathOpener)
