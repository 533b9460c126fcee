"""The "ray" kind of RemoteBackend (RayTarget): the behaviour suite through it, on the session's local Ray."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from hypernodes import InvalidArgumentError
from hypernodes.distributed._remote_ray import RayTarget
from hypernodes.executor import EventReceiver, RunContext, RunPayload, RunRequest
from hypernodes.testing import ExecutorBehaviourSuite
from hypernodes.testing.nodes import double

_spec = importlib.util.spec_from_file_location("hn_ray_remote_helper", Path(__file__).with_name("_remote_helper.py"))
assert _spec is not None and _spec.loader is not None
helper = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = helper
_spec.loader.exec_module(helper)


@pytest.fixture(name="executor", scope="module")
def executor_fixture(local_ray: ModuleType) -> Iterator[object]:
    with helper.ThroughTarget(RayTarget(None)) as executor:
        yield executor


class TestRayTarget(ExecutorBehaviourSuite):
    """Every behaviour of the suite with each level shipped whole (a map in chunks) to Ray tasks."""


def _payload(x: int) -> tuple[RunPayload, RunContext]:
    from hypernodes import Pipeline

    pipeline = Pipeline(nodes=[double], name="p")
    ctx = RunContext.for_pipeline(pipeline)
    return RunPayload.of_run(RunRequest.of(pipeline, {"x": x}, ctx, None)), ctx


def test_run_returns_one_answer_per_chunk_in_order(local_ray: ModuleType) -> None:
    target = RayTarget(None, num_cpus=1)
    payload, ctx = _payload(4)
    receiver = EventReceiver(ctx)
    answers = target.run(payload.encode(receiver), [None, None], receiver)
    assert [payload.decode(answer) for answer in answers] == [[{"doubled": 8}], [{"doubled": 8}]]
    target.close()


def test_resources_no_node_has_are_an_error(local_ray: ModuleType) -> None:
    target = RayTarget(None, num_gpus=2)
    payload, ctx = _payload(1)
    receiver = EventReceiver(ctx)
    with pytest.raises(InvalidArgumentError, match="GPU=2"):
        target.run(payload.encode(receiver), [None], receiver)


def test_security_must_be_a_token_string() -> None:
    with pytest.raises(InvalidArgumentError, match="auth token as a str"):
        RayTarget("127.0.0.1:6379", security=object())


