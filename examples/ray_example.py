"""Map a pipeline over items as Ray tasks, with one node sent to tasks with their own resources.

Starts its own local Ray (2 CPUs, plus a made-up "special" resource standing in for a GPU or
a big-memory node) and shuts it down at the end. Run it::

    uv run --extra ray python examples/ray_example.py   # or: pip install "hypernodes-distributed[ray]"
"""

from __future__ import annotations

import asyncio
import os

from hypernodes import Pipeline, RuntimeConfig, node
from hypernodes.distributed import RayExecutor


@node(output_name="words")
def split(text: str) -> list[str]:
    return text.split()


@node(output_name="n_words")
def count(words: list[str]) -> int:
    return len(words)


@node(output_name="shout")
async def shout(text: str) -> str:  # async nodes work inside Ray tasks too
    await asyncio.sleep(0.01)
    return text.upper()


@node(output_name="ran_with")
def heavy(n_words: int) -> dict[str, float]:
    import ray  # where this node ran, and with which resources

    return dict(ray.get_runtime_context().get_assigned_resources())


if __name__ == "__main__":
    import ray

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep this local Ray on 127.0.0.1
    ray.init(address="local", num_cpus=2, resources={"special": 1}, include_dashboard=False, log_to_driver=False)
    try:
        # Every RayExecutor shares the Ray initialised above; neither shuts it down.
        with RayExecutor() as executor, RayExecutor(num_cpus=0.5, resources={"special": 1}) as special:
            pipeline = Pipeline(
                nodes=[split, count, shout, heavy.with_config(RuntimeConfig(executor=special))],
                name="text",
                config=RuntimeConfig(executor=executor),
            )
            print(pipeline.run(inputs={"text": "a b c"}, output_name=["n_words", "shout"]))
            # {'n_words': 3, 'shout': 'A B C'}
            out = pipeline.map(inputs={"text": ["a b", "c", "d e f"]}, map_over="text")
            print(out["n_words"], out["shout"])
            # [2, 1, 3] ['A B', 'C', 'D E F']
            print(out["ran_with"][0])
            # {'CPU': 0.5, 'special': 1.0}
    finally:
        ray.shutdown()
