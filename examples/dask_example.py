"""Run a pipeline on a Dask cluster: nodes and items as tasks, or whole runs shipped there.

Needs Dask: ``uv run --with "dask[distributed]" python examples/dask_example.py``
(or ``pip install "hypernodes-distributed[dask]"``). It starts its own LocalCluster of two
worker processes, so the entry point is guarded (workers are spawned).
"""

from __future__ import annotations

import tempfile

from distributed import Client, LocalCluster

from hypernodes import CacheSpec, Pipeline, RuntimeConfig, node
from hypernodes.distributed import DaskExecutor, RemoteBackend
from hypernodes.executors import ThreadPoolExecutor


@node(output_name="words")
def split(text: str) -> list[str]:
    return text.lower().split()


@node(output_name="n_words")
def count(words: list[str]) -> int:
    return len(words)


@node(output_name="longest")
def longest(words: list[str]) -> str:
    return max(words, key=len)


@node(output_name="summary")
def summarise(n_words: int, longest: str) -> str:
    return f"{n_words} words, longest {longest!r}"


@node(output_name="gpus")
def on_a_gpu_worker(summary: str) -> str:
    from distributed import get_worker

    return f"ran on a worker with {get_worker().state.total_resources}"


pipeline = Pipeline(nodes=[split, count, longest, summarise], name="text")
texts = ["The quick brown fox", "jumps over the lazy dog", "HyperNodes on Dask"]

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", resources={"GPU": 1}) as cluster:
        with Client(cluster, set_as_default=False) as client, DaskExecutor(client=client) as dask:
            # 1. DaskExecutor: `count` and `longest` are two tasks that run at once, fed by `split`'s task.
            print(pipeline.run(inputs={"text": texts[0]}, config=RuntimeConfig(executor=dask)))

            # 2. A map: items go to the workers in chunks; results keep the item order.
            cache = CacheSpec(kind="disk", path=tempfile.mkdtemp())  # every worker sees this machine's disk
            out = pipeline.map(inputs={"text": texts}, map_over="text", output_name="summary",
                               config=RuntimeConfig(executor=dask, cache=cache))  # fmt: skip
            print(out)

            # 3. One node that needs a resource: only workers offering GPU=1 run it.
            gpu = on_a_gpu_worker.with_config(RuntimeConfig(executor=dask.with_resources(GPU=1)))
            with_gpu = Pipeline(nodes=[*pipeline.nodes, gpu], name="text+gpu", config=RuntimeConfig(executor=dask))
            print(with_gpu.run(inputs={"text": texts[1]}, output_name="gpus"))

        # 4. RemoteBackend: each run (or chunk of items) is shipped whole and runs there on threads.
        with RemoteBackend("dask", cluster.scheduler_address) as remote, ThreadPoolExecutor(4) as threads:
            config = RuntimeConfig(backend=remote, executor=threads)
            print(pipeline.map(inputs={"text": texts}, map_over="text", output_name="n_words", config=config))
