"""DiskCache security: private permissions, and signed entries that refuse what they did not write."""

from __future__ import annotations

import os
import pickle
import sqlite3
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypernodes import CacheSpec, DiskCache, Pipeline, RuntimeConfig, node
from hypernodes.cache import MISSING
from hypernodes.cache._packed import DATABASE
from hypernodes.executor.inline import InlineExecutor

LARGE = b"x" * 100_000  # a value stored as a file, whatever the layout


@pytest.fixture(name="no_umask")
def no_umask_fixture() -> Iterator[None]:
    """Let the modes the cache asks for through unchanged."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


@pytest.mark.usefixtures("no_umask")
def test_files_are_private_and_directories_too_by_default(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c")
    cache.put("small", 1, node_name="n")
    cache.put("large", LARGE, node_name="n")
    found = modes(cache.path)
    assert found.pop(".") == 0o700
    assert set(found) >= {DATABASE, "CACHEDIR.TAG", f"{DATABASE}-wal", f"{DATABASE}-shm"}
    for name, mode in found.items():
        assert mode == (0o700 if (cache.path / name).is_dir() else 0o600), name


@pytest.mark.usefixtures("no_umask")
def test_file_mode_shares_a_cache_with_a_group(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c", file_mode=0o660)
    cache.put("small", 1, node_name="n")
    cache.put("large", LARGE, node_name="n")
    found = modes(cache.path)
    for name, mode in found.items():
        assert mode == (0o770 if (cache.path / name).is_dir() else 0o660), name


@pytest.mark.parametrize("value_size", ["small", "large"])
def test_a_crafted_entry_with_a_matching_checksum_runs_no_code_in_a_signed_cache(
    tmp_path: Path, value_size: str, crafted_pickle: Any
) -> None:
    marker = tmp_path / "code-ran"
    root = tmp_path / "c"
    crafted: object = crafted_pickle(marker) if value_size == "small" else [LARGE, crafted_pickle(marker)]
    attacker = DiskCache(root)  # anyone who can write the directory, without the key
    for signature in ("control", "target"):
        attacker.put(signature, crafted, node_name="n")  # a valid plain checksum
    DiskCache(root).get("control")
    assert marker.exists()  # what an unsigned cache does with such an entry: it runs the code
    marker.unlink()
    signed = DiskCache(root, secret_key=b"the key")
    with pytest.warns(RuntimeWarning, match="not signed with a secret_key"):
        assert signed.get("target") is MISSING
    assert not marker.exists()  # refused before unpickling
    signed.put("target", "recomputed", node_name="n")
    assert signed.get("target") == "recomputed"


@pytest.mark.parametrize("value", ["small", LARGE], ids=["row", "file"])
def test_a_signed_entry_that_was_tampered_with_is_refused(tmp_path: Path, value: object) -> None:
    cache = DiskCache(tmp_path / "c", secret_key="the key")
    cache.put("sig", value, node_name="n")
    if value == "small":
        with sqlite3.connect(cache.path / DATABASE) as db:
            db.execute("UPDATE entries SET payload = ?", (pickle.dumps("forged"),))
    else:
        (path,) = cache.path.glob("??/*.hnc")
        data = bytearray(path.read_bytes())
        data[-10] ^= 0x01
        path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="HMAC does not match"):
        assert cache.get("sig") is MISSING


@pytest.mark.parametrize("value", ["small", LARGE], ids=["row", "file"])
def test_entries_signed_with_another_key_or_none_are_refused_and_signed_ones_load(
    tmp_path: Path, value: object
) -> None:
    DiskCache(tmp_path / "c", secret_key=b"k1").put("sig", value, node_name="n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert DiskCache(tmp_path / "c", secret_key=b"k1").get("sig") == value
    with pytest.warns(RuntimeWarning, match="HMAC does not match"):
        assert DiskCache(tmp_path / "c", secret_key=b"k2").get("sig") is MISSING
    DiskCache(tmp_path / "c", secret_key=b"k1").put("sig", value, node_name="n")
    with pytest.warns(RuntimeWarning, match="signed with a secret_key, and this cache has none"):
        assert DiskCache(tmp_path / "c").get("sig") is MISSING


def test_a_cache_spec_passes_the_key_on_and_never_shows_it(tmp_path: Path) -> None:
    spec = CacheSpec(kind="disk", path=tmp_path / "c", options={"secret_key": "s3cr3t"})
    assert "s3cr3t" not in repr(spec) and "secret_key" in repr(spec)
    assert "s3cr3t" not in repr(spec.create())
    copy = pickle.loads(pickle.dumps(spec))
    copy.create().put("sig", 1, node_name="n")
    assert DiskCache(tmp_path / "c", secret_key="s3cr3t").get("sig") == 1


def test_a_signed_cache_serves_a_pipeline_rerun(tmp_path: Path) -> None:
    calls: list[int] = []

    @node(output_name="y")
    def f(x: int) -> int:
        calls.append(x)
        return x + 1

    spec = CacheSpec(kind="disk", path=tmp_path / "c", options={"secret_key": b"k"})
    config = RuntimeConfig(executor=InlineExecutor(), cache=spec)
    for _ in range(2):
        assert Pipeline(nodes=[f]).map(inputs={"x": [1, 2]}, map_over="x", config=config) == {"y": [2, 3]}
    assert calls == [1, 2]
