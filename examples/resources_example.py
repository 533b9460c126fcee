"""Resources and batch forms: a "model" built once per worker, and a node vectorised over a chunk.

The model is a random projection matrix whose build costs ~50 ms (a sleep standing for loading
weights from disk). Declared with ``resource()``, it is built once per executor (once per
worker process under ``ProcessPoolExecutor``) instead of once per item; the node's batch form
projects a whole chunk with one matrix product. Run it::

    uv run python examples/resources_example.py
"""

from __future__ import annotations

import os
import time

import numpy as np

from hypernodes import Pipeline, RuntimeConfig, node, resource
from hypernodes.executors import ProcessPoolExecutor, ThreadPoolExecutor

BUILD_SECONDS = 0.05
DIM_IN, DIM_OUT = 256, 32


class Projection:
    """A stand-in for a model that is slow to load: a fixed random projection."""

    def __init__(self) -> None:
        time.sleep(BUILD_SECONDS)  # loading weights from disk
        self.matrix = np.random.default_rng(0).standard_normal((DIM_IN, DIM_OUT))
        self.loaded_in = os.getpid()

    def embed(self, features: np.ndarray) -> np.ndarray:
        return features @ self.matrix


@resource(version="1")  # bump the version when new weights should invalidate cached embeddings
def projection() -> Projection:
    return Projection()


@node(output_name="features")
def featurize(text: str) -> np.ndarray:
    counts = np.zeros(DIM_IN)
    for token in text.split():
        counts[sum(map(ord, token)) % DIM_IN] += 1.0
    return counts


def embed_batch(features: list[np.ndarray], model: Projection) -> list[np.ndarray]:
    return list(np.stack(features) @ model.matrix)  # one matrix product for the whole chunk


@node(output_name="embedding", batch=embed_batch)
def embed(features: np.ndarray, model: Projection = projection) -> np.ndarray:
    return model.embed(features)


@node(output_name="loaded_in")
def loaded_in(features: np.ndarray, model: Projection = projection) -> int:
    return model.loaded_in


@node(output_name="embedding")
def embed_rebuilding(features: np.ndarray) -> np.ndarray:
    return Projection().embed(features)  # what a node without a resource does: build per call


def texts(n: int) -> list[str]:
    return [f"document {i} about topic {i % 7} and more words {i * 31 % 11}" for i in range(n)]


def timed(function: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()  # type: ignore[operator]
    return time.perf_counter() - started, result


def main() -> None:
    pipeline = Pipeline(nodes=[featurize, embed], name="embedding")
    print("inputs:", pipeline.root_args, "(the model is a resource, not an input)")

    sample = texts(20)
    rebuilding = Pipeline(nodes=[featurize, embed_rebuilding], name="rebuilding")
    with ThreadPoolExecutor(max_workers=1) as executor:
        config = RuntimeConfig(executor=executor)
        seconds, slow = timed(lambda: rebuilding.map(inputs={"text": sample}, map_over="text", config=config))
        per_item_ms = seconds / len(sample) * 1e3
        print(f"built per call:  {len(sample)} items in {seconds:.2f} s ({per_item_ms:.1f} ms per item)")
        seconds, fast = timed(lambda: pipeline.map(inputs={"text": sample}, map_over="text", config=config))
        print(f"as a resource:   {len(sample)} items in {seconds:.3f} s (the model is built once, on first use)")
        many = texts(2_000)
        seconds, _ = timed(lambda: pipeline.map(inputs={"text": many}, map_over="text", config=config))
        print(f"  then reused:   {len(many)} more items in {seconds:.3f} s; built: {executor.resource_pool.built}")
    same = all(np.allclose(a, b) for a, b in zip(slow["embedding"], fast["embedding"]))  # type: ignore[index]
    print("same embeddings either way:", same)

    items = texts(400)
    per_item = Pipeline(nodes=[featurize, embed.with_batch(None), loaded_in], name="per_item")
    batched = Pipeline(nodes=[featurize, embed, loaded_in], name="batched")
    with ProcessPoolExecutor(max_workers=2, chunksize=100) as executor:
        config = RuntimeConfig(executor=executor)
        per_item.map(inputs={"text": texts(4)}, map_over="text", config=config)  # start the workers
        seconds_items, one = timed(lambda: per_item.map(inputs={"text": items}, map_over="text", config=config))
        seconds_batch, two = timed(lambda: batched.map(inputs={"text": items}, map_over="text", config=config))
    workers = set(two["loaded_in"])  # type: ignore[index]
    print(f"process pool: the model was loaded in {len(workers)} worker process(es), at most once in each")
    print(f"  per-item form: {seconds_items:.3f} s; batch form (4 chunks of 100): {seconds_batch:.3f} s")
    agree = all(np.allclose(a, b) for a, b in zip(one["embedding"], two["embedding"]))  # type: ignore[index]
    print("batch and per-item forms agree:", agree)


if __name__ == "__main__":
    main()
