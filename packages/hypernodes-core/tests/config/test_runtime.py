from __future__ import annotations

import asyncio
import threading

import pytest

from hypernodes import (
    InlineExecutor,
    InvalidArgumentError,
    LocalBackend,
    RuntimeConfig,
    get_default_config,
    set_default_config,
)
from hypernodes.config.runtime import ambient_config, library_default_config


def test_config_is_immutable_and_replace_copies() -> None:
    config = RuntimeConfig(retries=2)
    other = config.replace(timeout=30)
    assert other.retries == 2 and other.timeout == 30.0 and config.timeout is None
    with pytest.raises(AttributeError):
        config.retries = 3  # type: ignore[misc]


def test_library_default_is_local_backend() -> None:
    default = library_default_config()
    assert isinstance(default.backend, LocalBackend)
    assert default.retries == 0 and default.timeout is None and default.cache is None


def test_configs_without_an_executor_share_one_default_executor() -> None:
    assert RuntimeConfig().executor is RuntimeConfig(retries=1).executor


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("retries", -1, "retries"),
        ("retries", 1.5, "retries"),
        ("timeout", 0, "timeout"),
        ("executor", "threads", "Executor"),
        ("backend", "local", "Backend"),
        ("cache", 42, "cache"),
        ("callbacks", [42], "callbacks"),
    ],
)
def test_invalid_fields_are_rejected_with_the_field_name(field: str, value: object, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        RuntimeConfig(**{field: value})  # type: ignore[arg-type]


def test_callbacks_are_stored_as_a_tuple() -> None:
    assert RuntimeConfig(callbacks=[]).callbacks == ()


def test_use_sets_the_default_for_the_block_and_restores_it() -> None:
    config = RuntimeConfig(retries=5)
    before = ambient_config()
    with RuntimeConfig.use(config):
        assert ambient_config() == (config, "context")
    assert ambient_config() == before


def test_use_restores_on_error() -> None:
    config = RuntimeConfig(retries=5)
    with pytest.raises(RuntimeError), RuntimeConfig.use(config):
        raise RuntimeError("boom")
    assert ambient_config()[0] is not config


def test_use_is_local_to_a_thread() -> None:
    config = RuntimeConfig(retries=5)
    seen: list[object] = []
    with RuntimeConfig.use(config):
        thread = threading.Thread(target=lambda: seen.append(ambient_config()[0]))
        thread.start()
        thread.join()
    assert seen and seen[0] is not config


def test_use_is_local_to_an_asyncio_task() -> None:
    first, second = RuntimeConfig(retries=1), RuntimeConfig(retries=2)

    async def under(config: RuntimeConfig, started: asyncio.Event, other: asyncio.Event) -> int:
        with RuntimeConfig.use(config):
            started.set()
            await other.wait()  # the other task sets its own config meanwhile
            return ambient_config()[0].retries

    async def main() -> list[int]:
        a, b = asyncio.Event(), asyncio.Event()
        return list(await asyncio.gather(under(first, a, b), under(second, b, a)))

    assert asyncio.run(main()) == [1, 2]


def test_set_default_config_is_process_wide() -> None:
    config = RuntimeConfig(executor=InlineExecutor(), retries=4)
    try:
        set_default_config(config)
        assert get_default_config() is config
        assert ambient_config() == (config, "global")
        seen: list[object] = []
        thread = threading.Thread(target=lambda: seen.append(get_default_config()))
        thread.start()
        thread.join()
        assert seen == [config]
    finally:
        set_default_config(None)
    assert get_default_config() is library_default_config()


def test_use_beats_set_default_config() -> None:
    global_config, block_config = RuntimeConfig(retries=1), RuntimeConfig(retries=2)
    try:
        set_default_config(global_config)
        with RuntimeConfig.use(block_config):
            assert ambient_config() == (block_config, "context")
    finally:
        set_default_config(None)
