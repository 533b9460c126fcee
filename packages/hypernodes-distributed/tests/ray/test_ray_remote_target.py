"""The "ray" kind of RemoteBackend (RayTarget), driven directly (see also test_ray_remote_backend.py)."""

from __future__ import annotations

from types import ModuleType

import pytest

from hypernodes import InvalidArgumentError
from hypernodes.distributed._remote_ray import RayTarget
from hypernodes.executor import EventReceiver, RunContext, RunPayload, RunRequest
from hypernodes.testing.nodes import double


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


