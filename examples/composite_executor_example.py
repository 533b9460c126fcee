"""CompositeExecutor: threads across map items, asyncio within each item.

Each document needs three independent async I/O calls (simulated with ``asyncio.sleep``) and
one sync step combining them. Threads alone run the three calls of an item one after another;
asyncio within an item overlaps them, and threads across items overlap the items.

Run: ``uv run python examples/composite_executor_example.py``
"""

from __future__ import annotations

import asyncio
import time

from hypernodes import Pipeline, RuntimeConfig, node
from hypernodes.executors import AsyncExecutor, CompositeExecutor, SequentialExecutor, ThreadPoolExecutor

CALL_SECONDS = 0.05


@node(output_name="summary")
async def summarize(doc: str) -> str:
    await asyncio.sleep(CALL_SECONDS)  # an LLM call
    return doc[:10]


@node(output_name="language")
async def detect_language(doc: str) -> str:
    await asyncio.sleep(CALL_SECONDS)  # a language-detection API
    return "en"


@node(output_name="embedding")
async def embed(doc: str) -> list[float]:
    await asyncio.sleep(CALL_SECONDS)  # an embedding API
    return [float(len(doc))]


@node(output_name="record")
def combine(summary: str, language: str, embedding: list[float]) -> dict[str, object]:
    return {"summary": summary, "language": language, "embedding": embedding}


def timed_map(pipeline: Pipeline, docs: list[str], config: RuntimeConfig) -> tuple[float, list[object]]:
    started = time.perf_counter()
    records = pipeline.map(inputs={"doc": docs}, map_over="doc", config=config)["record"]
    return time.perf_counter() - started, records


def main() -> None:
    pipeline = Pipeline(nodes=[summarize, detect_language, embed, combine], name="enrich")
    docs = [f"document number {i}" for i in range(24)]
    executors = {
        "sequential": SequentialExecutor(),
        "threads only (8)": ThreadPoolExecutor(max_workers=8),
        "threads (8) x asyncio": CompositeExecutor(map_executor=ThreadPoolExecutor(8), node_executor=AsyncExecutor()),
    }
    timings: dict[str, float] = {}
    for name, executor in executors.items():
        with executor:
            # Threads only: the two branches run in parallel too, but each item holds its
            # worker while it waits; asyncio overlaps the waits of every item on one loop.
            timings[name], records = timed_map(pipeline, docs, RuntimeConfig(executor=executor))
        print(f"{name:<24} {timings[name]:.2f} s")
    assert records[0] == {"summary": "document n", "language": "en", "embedding": [17.0]}
    composite = timings["threads (8) x asyncio"]
    print(f"the composite is {timings['sequential'] / composite:.1f}x faster than sequential")
    print(f"and {timings['threads only (8)'] / composite:.1f}x faster than the same 8 threads alone")


if __name__ == "__main__":
    main()
