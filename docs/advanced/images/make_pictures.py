"""Draw the pictures of docs/advanced/visualization.md from the examples' pipelines.

Run it from the repository root after a change to the pictures' look or to the examples:

    uv run python docs/advanced/images/make_pictures.py

It needs Graphviz's ``dot`` program and writes one SVG per picture next to this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "examples"))

from config_hierarchy_example import build_index, chunk, config, embed, embedding, per_document  # noqa: E402
from quickstart import corpus, document  # noqa: E402

from hypernodes import Pipeline  # noqa: E402


def main() -> None:
    """Write every picture of the visualization guide."""
    gpu_embed = Pipeline(nodes=[chunk, embed.with_config(config("gpu"))], name="embedding")
    indexing = Pipeline(nodes=[per_document(gpu_embed), build_index], name="indexing", config=config("cpu"))
    pictures = {
        "document": (document, {}),
        "corpus_collapsed": (corpus, {"depth": 1}),
        "corpus": (corpus, {"depth": 2}),
        "corpus_vocabulary": (corpus, {"depth": 2, "output_name": "vocabulary"}),
        "embedding_lr": (embedding, {"orient": "LR"}),
        "indexing_config": (indexing, {"depth": 2, "show_config": True}),
    }
    for name, (pipeline, options) in pictures.items():
        pipeline.visualize(filename=HERE / f"{name}.svg", **options)
        print("wrote", (HERE / f"{name}.svg").relative_to(HERE.parents[2]))


if __name__ == "__main__":
    main()
