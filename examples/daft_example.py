"""Map a pipeline over a Daft DataFrame with ``DaftExecutor``: the same nodes, one config change.

Needs ``pip install hypernodes-daft``. Run it::

    uv run --with "hypernodes-daft @ packages/hypernodes-daft" python examples/daft_example.py

Each node becomes a UDF column of one Daft query; annotated ``int``/``str``/``list[str]``
outputs live in native Daft columns, the pydantic model stays a model, the async node's rows
run concurrently, and a nested pipeline maps over each document's words.
"""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("DO_NOT_TRACK", "1")  # Daft's telemetry
os.environ.setdefault("DAFT_PROGRESS_BAR", "0")

import pydantic

from hypernodes import Pipeline, RuntimeConfig, node
from hypernodes.daft import DaftExecutor


class Summary(pydantic.BaseModel):
    title: str
    n_words: int


@node(output_name="words")
def tokenize(text: str) -> list[str]:
    return text.lower().split()


@node(output_name="length")
def length(word: str) -> int:
    return len(word)


per_word = Pipeline(nodes=[length], name="per_word").as_node(
    input_mapping={"words": "word"}, output_mapping={"length": "lengths"}, map_over="words", name="word_lengths"
)


@node(output_name="title")
async def fetch_title(text: str) -> str:
    await asyncio.sleep(0.01)  # an HTTP call, say: the rows of a batch wait together
    return text.split()[0].title()


@node(output_name="summary")
def summarize(title: str, words: list[str], lengths: list[int]) -> Summary:
    return Summary(title=f"{title} (longest word: {max(lengths)})", n_words=len(words))


pipeline = Pipeline(nodes=[tokenize, per_word, fetch_title, summarize], name="docs")

if __name__ == "__main__":
    texts = ["Daft runs the rows", "HyperNodes runs the nodes", "one config changes where"]
    with DaftExecutor(max_concurrency=16) as executor:
        out = pipeline.map(inputs={"text": texts}, map_over="text", config=RuntimeConfig(executor=executor))
    for summary in out["summary"]:
        print(repr(summary))
    # Summary(title='Daft (longest word: 4)', n_words=4)
    # Summary(title='Hypernodes (longest word: 10)', n_words=4)
    # Summary(title='One (longest word: 7)', n_words=4)
    print(out["lengths"])  # [[4, 4, 3, 4], [10, 4, 3, 5], [3, 6, 7, 5]]
