"""Which RuntimeConfig does each node run with? The resolution order, level by level.

Highest first, each level replacing the whole config (fields are never merged):

    call-site config=  >  node.with_config  >  pipeline config / with_config
      >  the enclosing pipeline's effective config (nested pipelines inherit)
      >  RuntimeConfig.use  >  set_default_config  >  library default

``pipeline.explain()`` prints, for every node (nested ones as ``outer > inner``), the config it
will run with and the level it came from. To make the tables easy to read, each config here
uses an in-process executor that carries a label and records which pipelines it ran.

Run it with:  uv run python examples/config_hierarchy_example.py
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypernodes import InlineExecutor, Pipeline, PipelineNode, RuntimeConfig, node, set_default_config

ran: list[str] = []  # "pipeline name @ executor label", in the order the executors ran them


class Labelled(InlineExecutor):
    """Core's sequential in-process executor, with a label that explain() tables show."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"Labelled({self.label!r})"

    def run_pipeline(self, pipeline: Pipeline, inputs: Any, ctx: Any, output_name: Any) -> Any:
        ran.append(f"{pipeline.name} @ {self.label}")
        return super().run_pipeline(pipeline, inputs, ctx, output_name)

    def map_items(self, pipeline: Pipeline, items: Any, inputs: Any, ctx: Any, output_name: Any) -> Any:
        ran.append(f"{pipeline.name} x{len(items)} items @ {self.label}")
        return super().map_items(pipeline, items, inputs, ctx, output_name)


def config(label: str) -> RuntimeConfig:
    return RuntimeConfig(executor=Labelled(label))


@node(output_name="chunks")
def chunk(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@node(output_name="vector")
def embed(chunks: list[str]) -> list[float]:
    # In real life a model that wants a GPU: give this node its own config, e.g.
    # embed.with_config(RuntimeConfig(backend=ModalBackend(gpu=...))), and only it goes there.
    return [len(c) / 8 for c in chunks]


@node(output_name="index")
def build_index(vector: list[list[float]]) -> dict[int, float]:
    return {i: sum(v) for i, v in enumerate(vector)}


def per_document(embedding: Pipeline) -> PipelineNode:
    """Use `embedding` as a node that runs once per document."""
    return embedding.as_node(input_mapping={"documents": "text"}, map_over="documents", name="per_document")


embedding = Pipeline(nodes=[chunk, embed], name="embedding")
indexing = Pipeline(nodes=[per_document(embedding), build_index], name="indexing")
DOCUMENTS = {"documents": ["a short text", "a somewhat longer text"]}


def show(title: str, pipeline: Pipeline, call_site: RuntimeConfig | None = None) -> None:
    """Print explain() for `pipeline`, then run it and print which executor ran what."""
    print(f"\n== {title}")
    print(pipeline.explain(config=call_site))
    ran.clear()
    result = pipeline.run(inputs=DOCUMENTS, config=call_site)
    counted = Counter(ran)
    executors = "; ".join(f"{what} (x{n})" if n > 1 else what for what, n in counted.items())
    executors = executors or "the library default executor (not labelled)"
    print("ran:", executors, "| index =", result["index"])


def main() -> None:
    print("Each table is pipeline.explain(); 'ran:' then lists which labelled executor really ran")
    print("which pipeline (a nested pipeline mapped over documents shows as 'embedding x2 items').")
    show("1. library default (no config anywhere)", indexing)

    set_default_config(config("global"))
    try:
        show("2. set_default_config: the process-wide default", indexing)
        with RuntimeConfig.use(config("context")):
            show("3. RuntimeConfig.use: the default for this block; wins over set_default_config", indexing)
    finally:
        set_default_config(None)

    outer = indexing.with_config(config("indexing"))
    show("4. pipeline config: the nested pipeline inherits it (source 'parent')", outer)

    own = per_document(embedding.with_config(config("embedding")))
    nested_own = Pipeline(nodes=[own, build_index], name="indexing", config=config("indexing"))
    show("5. a nested pipeline with its own config keeps it (source 'pipeline')", nested_own)

    gpu_embed = Pipeline(nodes=[chunk, embed.with_config(config("embed-node"))], name="embedding")
    node_level = Pipeline(nodes=[per_document(gpu_embed), build_index], name="indexing", config=config("indexing"))
    show("6. node.with_config: that node runs as a one-node pipeline under its own config", node_level)

    nested_node = per_document(embedding).with_config(config("nested-node"))
    nested_node_level = Pipeline(nodes=[nested_node, build_index], name="indexing", config=config("indexing"))
    show("7. with_config on a nested pipeline node: its inner nodes inherit it", nested_node_level)

    call_site = config("call-site")
    show("8. call-site config=: every node of this run, node-level configs included", node_level, call_site)


if __name__ == "__main__":
    main()
