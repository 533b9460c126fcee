"""Opt-in smoke test against Modal's cloud: ``HYPERNODES_MODAL_REMOTE=1`` and Modal credentials.

It costs a few cents and a minute or two (the image build, then cold starts). Without the
opt-in, or without credentials, it is skipped with the reason. It runs a run, a map with
callbacks, a failing item, and a disk cache on a Volume twice (the second run must hit).
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator

import pytest

from hypernodes import CacheSpec, Pipeline, ProgressCallback, RuntimeConfig, node
from hypernodes.modal import ModalBackend

pytestmark = pytest.mark.skipif(
    os.environ.get("HYPERNODES_MODAL_REMOTE") != "1",
    reason="the real-cloud smoke test is opt-in: HYPERNODES_MODAL_REMOTE=1",
)


@node(output_name="where")
def where(x: int) -> str:
    import modal

    if x < 0:
        raise ValueError(f"negative: {x}")
    return "modal" if not modal.is_local() else "local"


@pytest.fixture(name="backend", scope="module")
def backend_fixture() -> Iterator[ModalBackend]:
    from modal import config

    if not (config.config.get("token_id") and config.config.get("token_secret")):
        pytest.skip("no Modal credentials: run `modal token new` or set MODAL_TOKEN_ID/MODAL_TOKEN_SECRET")
    import modal

    volume = modal.Volume.from_name("hypernodes-smoke-test", create_if_missing=True)
    volumes = {"/tmp/hn-volume": volume}
    with ModalBackend(app_name="hypernodes-smoke-test", volumes=volumes, max_containers=2) as backend:
        yield backend


def test_a_run_and_a_map_run_in_modal(backend: ModalBackend) -> None:
    p = Pipeline(nodes=[where], name="smoke")
    assert p.run(inputs={"x": 1}, config=RuntimeConfig(backend=backend)) == {"where": "modal"}
    bar = io.StringIO()
    config = RuntimeConfig(backend=backend, callbacks=[ProgressCallback(file=bar)])
    assert p.map(inputs={"x": [1, 2, 3]}, map_over="x", config=config) == {"where": ["modal"] * 3}
    assert "3/3" in bar.getvalue()


def test_a_failing_item_comes_back_as_its_own_error(backend: ModalBackend) -> None:
    with pytest.raises(ValueError, match="negative: -1") as caught:
        Pipeline(nodes=[where]).map(inputs={"x": [1, -1]}, map_over="x", config=RuntimeConfig(backend=backend))
    assert any("map item 1" in note for note in caught.value.__notes__)


def test_a_cache_on_a_volume_is_seen_by_the_next_run(backend: ModalBackend) -> None:
    cache = CacheSpec(kind="disk", path=f"/tmp/hn-volume/{uuid.uuid4().hex}")
    bars = []
    for _ in range(2):
        bar = io.StringIO()
        config = RuntimeConfig(backend=backend, cache=cache, callbacks=[ProgressCallback(file=bar)])
        Pipeline(nodes=[where], name="cached").map(inputs={"x": [1, 2]}, map_over="x", config=config)
        bars.append(bar.getvalue())
    assert "cached=2" in bars[1]
