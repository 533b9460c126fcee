"""A complete third-party executor, written against the public API of ``hypernodes.executor`` only.

``FuturesExecutor`` runs the independent steps of a run, and the items of a map, on a
``concurrent.futures`` thread pool it owns. It shows the whole contract:

* one abstract method, ``run_pipeline(request)``: walk the plan with a ``ReadySet`` and run
  each step with ``run_step`` (cache, callbacks, retries and timeout happen inside);
* ``map_items(request)``: items through ``run_item`` (which fires the item hooks), each
  through ``request.runner`` (set by ``CompositeExecutor``) or this executor's run_pipeline;
* nesting never deadlocks: work submitted from one of our own threads runs right there
  instead of waiting for a pool thread (a context variable marks our threads);
* the pool is made on first use and freed by an idempotent ``close()``.

CI runs the behaviour suite against it (``uv run nox -s example_executor``). Run it::

    uv run python examples/custom_executor.py
"""

from __future__ import annotations

import concurrent.futures
import contextvars
from typing import Any

from hypernodes import Pipeline, RuntimeConfig, node
from hypernodes.executor import Executor, MapRequest, ReadySet, RunRequest, run_in_order, run_item, run_step

_in_our_thread: contextvars.ContextVar[bool] = contextvars.ContextVar("futures_executor_thread", default=False)


class FuturesExecutor(Executor):
    """Run independent steps and map items on a thread pool."""

    def __init__(self, max_workers: int = 4) -> None:
        self.max_workers = max_workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def run_pipeline(self, request: RunRequest) -> dict[str, Any]:
        if request.plan.is_chain or _in_our_thread.get():  # nothing to overlap, or nested: run here
            return run_in_order(request)
        ready = ReadySet(request)
        running: dict[concurrent.futures.Future[Any], Any] = {}
        while ready.is_active():
            for step in ready.get_ready():
                running[self._submit(run_step, step, ready.inputs_for(step), request.ctx)] = step
            done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                step = running.pop(future)
                if future.exception() is not None:  # let the running steps finish, then raise
                    concurrent.futures.wait(running)
                ready.done(step, future.result())  # result() re-raises the node's own error
        return ready.outputs()

    def map_items(self, request: MapRequest) -> list[dict[str, Any]]:
        run = request.runner or self.run_pipeline
        if _in_our_thread.get():  # a nested map inside one of our threads: never wait on our own pool
            return [run_item(request, position, run) for position in range(len(request.items))]
        futures = [self._submit(run_item, request, position, run) for position in range(len(request.items))]
        concurrent.futures.wait(futures)  # every item ends (and is cached) before a failure is raised
        return [future.result() for future in futures]  # item order, not completion order

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:  # so a second close() is a no-op
            pool.shutdown(cancel_futures=True)
        self.close_resources()  # tear down the resources (models, clients) its node calls built

    def _submit(self, function: Any, *args: Any) -> concurrent.futures.Future[Any]:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.max_workers)
        context = contextvars.copy_context()  # one copy per submission: the config, the run
        return self._pool.submit(context.run, _marked, function, *args)


def _marked(function: Any, *args: Any) -> Any:
    _in_our_thread.set(True)  # set in the submission's own context copy
    return function(*args)


@node(output_name="words")
def split(text: str) -> list[str]:
    return text.split()


@node(output_name="n_words")
def count(words: list[str]) -> int:
    return len(words)


@node(output_name="shout")
def shout(text: str) -> str:
    return text.upper()


if __name__ == "__main__":
    with FuturesExecutor(max_workers=4) as executor:
        pipeline = Pipeline(nodes=[split, count, shout], name="text")
        config = RuntimeConfig(executor=executor)
        print(pipeline.run(inputs={"text": "a b c"}, config=config))
        # {'words': ['a', 'b', 'c'], 'n_words': 3, 'shout': 'A B C'}
        print(pipeline.map(inputs={"text": ["a b", "c"]}, map_over="text", output_name="n_words", config=config))
        # {'n_words': [2, 1]}
