"""The fluent API: with_config (whole configs and patches), bind, private nested outputs, on_error.

Run it with ``uv run python examples/fluent_api_example.py``. Every pipeline here is derived
from another by a method that returns a new object; nothing is modified in place.
"""

from __future__ import annotations

import asyncio

from hypernodes import ItemFailure, MemoryCache, Pipeline, PipelineCallback, RetryPolicy, RuntimeConfig, node

ATTEMPTS: dict[str, int] = {}


@node(output_name="text")
def fetch(url: str) -> str:
    """Pretend to download `url`: the first attempt for each URL fails, like a flaky network."""
    ATTEMPTS[url] = ATTEMPTS.get(url, 0) + 1
    if ATTEMPTS[url] == 1:
        raise ConnectionError(f"connection reset while fetching {url}")
    if "broken" in url:
        raise ValueError(f"{url} is not a page")
    return f"<p>hello from {url}</p>"


@node(output_name="tmp")
def strip_tags(text: str) -> str:
    return text.replace("<p>", "").replace("</p>", "")


@node(output_name="n_words")
def count_words(tmp: str) -> int:
    return len(tmp.split())


@node(output_name="tmp")
def shout(text: str) -> str:  # another pipeline's intermediate is also called `tmp`
    return text.upper()


@node(output_name="loud")
def exclaim(tmp: str, marks: str) -> str:
    return tmp + marks


class CountCalls(PipelineCallback):
    def __init__(self) -> None:
        self.calls = 0
        self.hits = 0

    def on_node_end(self, ctx, node, outputs, duration):  # type: ignore[no-untyped-def]
        self.calls += 1

    def on_node_cached(self, ctx, node, signature):  # type: ignore[no-untyped-def]
        self.hits += 1


def main() -> None:
    counter = CountCalls()
    config = RuntimeConfig(cache=MemoryCache(), callbacks=[counter])

    # A patch: only `fetch` gets retries, and it keeps the pipeline's cache and callbacks.
    # Only ConnectionError is retried; a ValueError (a real problem) is raised at once.
    patient_fetch = fetch.with_config(retries=RetryPolicy(attempts=2, delay=0.01, on=(ConnectionError,)))

    # Two nested pipelines, both with an intermediate `tmp`: output_mapping exposes exactly
    # the mapped outputs, so the two `tmp`s stay private and never clash.
    words = Pipeline(nodes=[strip_tags, count_words], name="words").as_node(output_mapping={"n_words": "n_words"})
    loud = Pipeline(nodes=[shout, exclaim], name="loud").bind(marks="!").as_node(output_mapping={"loud": "loud"})
    page = Pipeline(nodes=[patient_fetch, words, loud], name="page", config=config)

    print("inputs:", page.root_args, "optional:", sorted(page.optional_args))
    print("run:", page.run(inputs={"url": "a.example"}))
    print("run again (cached):", page.run(inputs={"url": "a.example"}), "| cache hits:", counter.hits)
    print("explain:", page.explain()["fetch"].source)

    # bind: fix an input once; run-time inputs still win.
    louder = page.bind(marks="!!!")
    print("bound:", louder.bound_inputs, "->", louder.run(inputs={"url": "a.example"})["loud"])

    # on_error="continue": every other item finishes; a failed item's outputs are ItemFailure records.
    urls = ["b.example", "broken.example", "c.example"]
    result = page.map(inputs={"url": urls}, map_over="url", on_error="continue")
    for url, n_words in zip(urls, result["n_words"]):
        shown = f"failed in {n_words.node_name!r}" if isinstance(n_words, ItemFailure) else n_words
        print(f"  {url}: {shown}")

    # with_config(field=...) on a pipeline changes that field of its config; the node's own
    # patch still applies on top of it (node > pipeline).
    bounded = page.with_config(timeout=5.0)
    row = bounded.explain()["fetch"]
    print("bounded fetch:", f"timeout={row.config.timeout}", f"retries={row.config.retries.attempts}")

    # The awaitable entry points work under any config, from a running event loop.
    print("run_async:", asyncio.run(page.run_async(inputs={"url": "d.example"}))["n_words"])


if __name__ == "__main__":
    main()
