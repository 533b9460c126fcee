"""A callback that uses frame ids: count the node calls made for each document of a map.

Each document is split into sentences, and a nested map runs per sentence. The callback
follows ``parent_frame_id`` from any node up to the outer map item it belongs to, so it
attributes the work right even when documents run at the same time on a thread pool.

Run it with ``uv run python examples/callback_frames.py``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from hypernodes import CallbackContext, Executor, InlineExecutor, Pipeline, PipelineCallback, RuntimeConfig, node


class CallsPerDocument(PipelineCallback):
    """Count node calls per item of the root map, nested pipelines and maps included."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the three dicts: hooks fire from many threads
        # frame id -> the frame that started it; kept for the run (a callback serving many runs
        # would forget a frame in its end hook)
        self._parents: dict[str, str | None] = {}
        self._documents: dict[str, int] = {}  # frame id of a root map item -> its index
        self.calls: Counter[int] = Counter()

    def _saw(self, ctx: CallbackContext) -> None:
        with self._lock:
            self._parents[ctx.frame_id] = ctx.parent_frame_id

    def on_map_start(self, ctx: CallbackContext, total: int) -> None:
        self._saw(ctx)

    def on_pipeline_start(self, ctx: CallbackContext, inputs: Mapping[str, Any]) -> None:
        self._saw(ctx)

    def on_map_item_start(self, ctx: CallbackContext, index: int) -> None:
        self._saw(ctx)
        if ctx.depth == 0:
            with self._lock:
                self._documents[ctx.frame_id] = index

    def on_node_end(self, ctx: CallbackContext, node: str, outputs: Mapping[str, Any], duration: float) -> None:
        with self._lock:
            frame: str | None = ctx.frame_id
            while frame is not None and frame not in self._documents:
                frame = self._parents.get(frame)  # one level up
            if frame is not None:
                self.calls[self._documents[frame]] += 1


@node(output_name="sentences")
def split(document: str) -> list[str]:
    return [s.strip() for s in document.split(".") if s.strip()]


@node(output_name="n_words")
def count(sentence: str) -> int:
    return len(sentence.split())


per_sentence = Pipeline(nodes=[count], name="sentence").as_node(
    input_mapping={"sentences": "sentence"}, map_over="sentences", name="per_sentence"
)
corpus = Pipeline(nodes=[split, per_sentence], name="corpus")


def pick_executor() -> Executor:
    """Return a thread pool when hypernodes-executors is installed, else in-process execution."""
    try:
        from hypernodes.executors import ThreadPoolExecutor
    except ImportError:
        return InlineExecutor()
    return ThreadPoolExecutor(max_workers=4)


if __name__ == "__main__":
    documents = ["One. Two words. Three words here.", "Just one sentence.", "A. B."]
    callback = CallsPerDocument()
    with pick_executor() as executor:
        out = corpus.map(
            inputs={"document": documents},
            map_over="document",
            config=RuntimeConfig(executor=executor, callbacks=[callback]),
        )
    print("words per sentence:", out["n_words"])
    for index, calls in sorted(callback.calls.items()):
        print(f"document {index}: {calls} node calls")
