from __future__ import annotations

import asyncio
import threading

import pytest

from hypernodes import (
    InlineExecutor,
    InvalidArgumentError,
    LocalBackend,
    Pipeline,
    PipelineCallback,
    RuntimeConfig,
    get_default_config,
    node,
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


def test_a_misspelt_field_names_the_field_meant() -> None:
    with pytest.raises(InvalidArgumentError, match=r"no field 'retry'.*Did you mean 'retries'\?") as info:
        RuntimeConfig(retry=2)  # type: ignore[call-arg]
    assert info.value.input_name == "retry"
    with pytest.raises(InvalidArgumentError, match=r"no field 'timout'.*Did you mean 'timeout'\?"):
        RuntimeConfig().replace(timout=3)


def test_the_field_names_of_the_message_are_the_dataclass_fields() -> None:
    from dataclasses import fields

    from hypernodes.config import runtime

    assert tuple(f.name for f in fields(RuntimeConfig)) == runtime._FIELDS


class _Quiet(PipelineCallback):
    pass


def _make_quiet() -> _Quiet:
    return _Quiet()


def _needs_argument(name: str) -> PipelineCallback:
    return _Quiet()


def _returns_none() -> None:
    return None


@pytest.mark.parametrize(
    ("callback", "match"),
    [
        (print, r"callbacks=\.\.\.\)\[0\] is the builtin print\(\)"),
        (dict, r"class dict, which is not a PipelineCallback"),
        (_needs_argument, r"_needs_argument\(\), which needs argument\(s\) 'name'"),
        (_returns_none, r"_returns_none\(\), annotated to return None"),
        ("progress", r"str 'progress', not a callback"),
    ],
    ids=["builtin", "other class", "needs an argument", "returns None", "a string"],
)
def test_what_cannot_be_a_callback_is_rejected_when_the_config_is_made(callback: object, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        RuntimeConfig(callbacks=[callback])  # type: ignore[list-item]


def test_callback_instances_classes_and_factories_are_accepted() -> None:
    factories = (_Quiet(), _Quiet, _make_quiet, lambda: _Quiet())
    assert RuntimeConfig(callbacks=list(factories)).callbacks == factories


def test_a_factory_that_returns_no_callback_fails_the_run_before_any_node() -> None:
    calls: list[int] = []

    @node(output_name="y")
    def f(x: int) -> int:
        calls.append(x)
        return x

    config = RuntimeConfig(executor=InlineExecutor(), callbacks=[lambda: calls.append(-1)])
    with pytest.raises(InvalidArgumentError, match=r"factory at RuntimeConfig\(callbacks=\.\.\.\)\[0\] returned None"):
        Pipeline(nodes=[f]).run(inputs={"x": 1}, config=config)
    assert calls == [-1]  # the factory was called once, the node never


def test_a_retry_policy_takes_its_fields_by_position_too() -> None:
    from hypernodes import RetryPolicy

    assert RetryPolicy(2) == RetryPolicy(attempts=2)
    assert RetryPolicy(3, 0.5, 2.0).wait(1) == 1.0
