"""RuntimeConfig: one immutable object that says where, how and under which policies nodes run.

Shows each field, ``replace``, ``Pipeline.with_config``, ``RuntimeConfig.use``,
``set_default_config`` / ``get_default_config`` and a call-site ``config=``. The nodes never
change; only the config does.

Run it with:  uv run python examples/runtime_config_example.py
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from typing import Any

from hypernodes import (
    CallbackContext,
    MemoryCache,
    NodeTimeoutError,
    Pipeline,
    PipelineCallback,
    RuntimeConfig,
    get_default_config,
    node,
    set_default_config,
)

attempts: list[str] = []  # what the flaky node saw, to show retries at work


@node(output_name="page")
def fetch(url: str, delay: float = 0.0) -> str:
    """Pretend to download a page; the first attempt at each URL fails, like a flaky network."""
    attempts.append(url)
    if attempts.count(url) == 1:
        raise ConnectionError(f"connection reset while fetching {url}")
    time.sleep(delay)
    return f"<html>{url}</html>"


@node(output_name="n_chars")
def measure(page: str) -> int:
    """Count the page's characters."""
    return len(page)


pipeline = Pipeline(nodes=[fetch, measure], name="crawl")


class PrintNodes(PipelineCallback):
    """Print each node call (hooks receive a CallbackContext first)."""

    def on_node_end(self, ctx: CallbackContext, node: str, outputs: Mapping[str, Any], duration: float) -> None:
        print(f"    callback: node {node!r} of {ctx.pipeline!r} returned {dict(outputs)}")


def source() -> str:
    """Where the config of node `fetch` comes from right now (see Pipeline.explain)."""
    return pipeline.explain()["fetch"].source


def main() -> None:
    print("1. The fields and their defaults")
    default = RuntimeConfig()
    for field in dataclasses.fields(RuntimeConfig):
        print(f"    {field.name:9} = {getattr(default, field.name)!r}")
    # Every config that does not name an executor shares one default executor (and its pool).
    print("    two configs share the default executor:", RuntimeConfig().executor is default.executor)

    print("2. Immutable: replace() returns a modified copy")
    strict = RuntimeConfig(retries=1, timeout=5)
    looser = strict.replace(timeout=None)
    print("    strict:", strict.retries, strict.timeout, "| looser:", looser.retries, looser.timeout)
    try:
        strict.retries = 3  # type: ignore[misc]
    except dataclasses.FrozenInstanceError as error:
        print("    assigning a field fails:", error)

    print("3. retries: extra attempts per node call")
    try:
        pipeline.run(inputs={"url": "a.example"})
    except ConnectionError as error:
        print("    retries=0:", error, "|", error.__notes__)
    print("    retries=1:", pipeline.run(inputs={"url": "b.example"}, config=RuntimeConfig(retries=1)))

    print("4. timeout: seconds per node call")
    try:
        pipeline.run(inputs={"url": "c.example", "delay": 0.5}, config=RuntimeConfig(retries=1, timeout=0.05))
    except NodeTimeoutError as error:
        print("    NodeTimeoutError (also a TimeoutError):", error)

    print("5. cache: a second identical run is served from the cache")
    attempts.clear()
    cached = RuntimeConfig(retries=1, cache=MemoryCache())
    pipeline.run(inputs={"url": "d.example"}, config=cached)
    first = len(attempts)
    pipeline.run(inputs={"url": "d.example"}, config=cached)
    second = len(attempts) - first
    print(f"    fetch calls: {first} in the first run (a failure, then a retry), {second} in the second")

    print("6. callbacks: observe the run")
    pipeline.run(inputs={"url": "e.example"}, config=RuntimeConfig(retries=1, callbacks=[PrintNodes()]))

    print("7. with_config: a new pipeline; the original is unchanged")
    resilient = pipeline.with_config(RuntimeConfig(retries=2))
    print("    pipeline.config:", pipeline.config)
    print("    resilient.config.retries:", resilient.config.retries if resilient.config else None)
    print("    resilient runs:", resilient.run(inputs={"url": "f.example"}))

    print("8. RuntimeConfig.use: the default for a block (this thread / asyncio task only)")
    print("    before the block, fetch's config comes from:", source())
    with RuntimeConfig.use(RuntimeConfig(retries=1)):
        print("    inside the block:", source(), "->", pipeline.run(inputs={"url": "g.example"}))
        seen: list[str] = []
        thread = threading.Thread(target=lambda: seen.append(source()))
        thread.start()
        thread.join()
        print("    a thread started inside the block sees:", seen[0])
    print("    after the block:", source())
    try:
        with RuntimeConfig.use(RuntimeConfig(retries=1)):
            raise KeyError("boom")
    except KeyError:
        print("    after a block that raised:", source())

    print("9. set_default_config / get_default_config: the process-wide default")
    print("    get_default_config() is the library default:", get_default_config() == RuntimeConfig())
    set_default_config(RuntimeConfig(retries=1))
    try:
        print("    after set_default_config:", source(), "retries =", get_default_config().retries)
        with RuntimeConfig.use(RuntimeConfig(retries=2)):
            print("    use() wins over it:", source())
    finally:
        set_default_config(None)  # back to the library default
    print("    after set_default_config(None):", source())

    print("10. call-site config=: this call only, for every node of the run")
    call_site = RuntimeConfig(retries=3)
    print("    explain(config=...):", pipeline.explain(config=call_site)["fetch"].source)
    print("    run(config=...):", pipeline.run(inputs={"url": "h.example"}, config=call_site))


if __name__ == "__main__":
    main()
