"""Pictures of pipelines: ``to_dot``, ``to_mermaid`` and ``visualize``.

The DOT and Mermaid text of a few pipeline shapes is compared with the files in
``snapshots/``; after an intended change of the picture, rewrite them with
``HYPERNODES_UPDATE_SNAPSHOTS=1 uv run pytest packages/hypernodes-core/tests/graph/test_visualize.py``
and look at the diff (and at a rendering) before committing it.
"""

from __future__ import annotations

import os
import re
import shutil
import string
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

from hypernodes import InlineExecutor, InvalidArgumentError, Pipeline, RuntimeConfig, node
from hypernodes.graph.diagram import Diagram, DiagramCluster, DiagramNode, DiagramOptions
from hypernodes.graph.diagram_builder import build_diagram
from hypernodes.testing.nodes import add, clean, count, double, increment, square, total

SNAPSHOTS = Path(__file__).parent / "snapshots"
ROOT = Path(__file__).resolve().parents[4]
GUIDE = ROOT / "docs" / "advanced" / "visualization.md"
UPDATE = os.environ.get("HYPERNODES_UPDATE_SNAPSHOTS") == "1"
DOT = shutil.which("dot")
needs_dot = pytest.mark.skipif(
    DOT is None, reason="Graphviz's `dot` program is not installed (apt-get install graphviz)"
)


# -- the quickstart's pipelines (examples/quickstart.py), rebuilt here -----------------------


@node(output_name="clean")
def clean_text(text: str) -> str:
    return text.lower().translate(str.maketrans("", "", string.punctuation))


@node(output_name="tokens")
def tokenize(clean: str, min_length: int = 1) -> list[str]:
    return [token for token in clean.split() if len(token) >= min_length]


@node(output_name=("n_tokens", "n_unique"))
def count_tokens(tokens: list[str]) -> tuple[int, int]:
    return len(tokens), len(set(tokens))


@node(output_name="vocabulary")
def vocabulary(tokens: list[list[str]]) -> list[str]:
    return sorted({token for document_tokens in tokens for token in document_tokens})


@node(output_name="summary")
def summarize(corpus_name: str, lengths: list[int], vocabulary: list[str]) -> str:
    return f"{corpus_name}: {len(lengths)} documents, {sum(lengths)} tokens, {len(vocabulary)} distinct"


@node(output_name="report")
def report(total: int, title: str = "words") -> str:
    return f"{title}: {total}"


@node(output_name="joined")
def join(clean: str, sep: str = '<"|">') -> str:
    return sep.join(clean)


class TaggedExecutor(InlineExecutor):
    """An executor whose class name shows in a picture drawn with show_config."""


def build_document() -> Pipeline:
    return Pipeline(nodes=[clean_text.with_name("clean"), tokenize, count_tokens.with_name("count")], name="document")


def build_corpus(document: Pipeline) -> Pipeline:
    per_document = document.as_node(
        input_mapping={"documents": "text"},
        output_mapping={"n_tokens": "lengths", "tokens": "tokens"},
        map_over="documents",
        name="per_document",
    )
    return Pipeline(nodes=[per_document, vocabulary, summarize], name="corpus")


@pytest.fixture(name="document")
def document_fixture() -> Pipeline:
    return build_document()


@pytest.fixture(name="corpus")
def corpus_fixture(document: Pipeline) -> Pipeline:
    return build_corpus(document)


@pytest.fixture(name="diamond")
def diamond_fixture() -> Pipeline:
    return Pipeline(nodes=[double, square, add], name="diamond")


@pytest.fixture(name="nested_map")
def nested_map_fixture() -> Pipeline:
    grid = Pipeline(nodes=[increment], name="step").as_node(
        output_mapping={"y": "values"}, map_over=["x", "step"], map_mode="product", name="grid"
    )
    return Pipeline(nodes=[grid, total], name="nested_map")


@pytest.fixture(name="three_levels")
def three_levels_fixture() -> Pipeline:
    words = Pipeline(nodes=[clean, count], name="words")
    per_text = words.as_node(
        input_mapping={"texts": "text"}, output_mapping={"n_words": "values"}, map_over="texts", name="per_text"
    )
    batch = Pipeline(nodes=[per_text, total], name="batch", config=RuntimeConfig(executor=TaggedExecutor()))
    return Pipeline(nodes=[batch, report], name="three_levels", config=RuntimeConfig(executor=InlineExecutor()))


# -- snapshots -------------------------------------------------------------------------------

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "document": ("document", {}),
    "corpus_collapsed": ("corpus", {"depth": 1}),
    "corpus": ("corpus", {"depth": 2}),
    "corpus_lengths": ("corpus", {"depth": 2, "output_name": "lengths"}),
    "diamond": ("diamond", {}),
    "nested_map": ("nested_map", {"depth": 2}),
    "three_levels": ("three_levels", {"depth": None}),
    "three_levels_config": ("three_levels", {"depth": None, "show_config": True, "orient": "LR"}),
}


def _check_snapshot(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}; write it with HYPERNODES_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; see the module docstring"


@pytest.mark.parametrize("case", sorted(CASES))
def test_dot_text_matches_its_snapshot(case: str, request: pytest.FixtureRequest) -> None:
    fixture, options = CASES[case]
    _check_snapshot(SNAPSHOTS / f"{case}.dot", request.getfixturevalue(fixture).to_dot(**options))


@pytest.mark.parametrize("case", sorted(CASES))
def test_mermaid_text_matches_its_snapshot(case: str, request: pytest.FixtureRequest) -> None:
    fixture, options = CASES[case]
    _check_snapshot(SNAPSHOTS / f"{case}.mmd", request.getfixturevalue(fixture).to_mermaid(**options))


def test_text_is_the_same_for_a_rebuilt_pipeline(corpus: Pipeline, document: Pipeline) -> None:
    rebuilt = build_corpus(build_document())
    assert rebuilt is not corpus
    assert rebuilt.to_dot(depth=2) == corpus.to_dot(depth=2)
    assert rebuilt.to_mermaid(depth=2) == corpus.to_mermaid(depth=2)


def test_the_guides_mermaid_block_is_what_to_mermaid_prints() -> None:
    blocks = re.findall(r"```mermaid\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks == [build_document().to_mermaid()]


def test_every_picture_the_guides_show_exists() -> None:
    for guide in (GUIDE, ROOT / "README.md"):
        text = guide.read_text(encoding="utf-8")
        pictures = re.findall(r"!\[[^\]]*\]\(([^)]+\.svg)\)", text)
        assert pictures, guide
        assert all((guide.parent / picture).is_file() for picture in pictures), pictures


# -- what the picture shows ------------------------------------------------------------------


def _diagram(pipeline: Pipeline, **options: Any) -> Diagram:
    return build_diagram(pipeline, DiagramOptions(**options))


def _boxes(diagram: Diagram) -> dict[str, DiagramNode]:
    return {item.id: item for item in diagram.walk() if isinstance(item, DiagramNode)}


def _clusters(diagram: Diagram) -> dict[str, DiagramCluster]:
    return {item.id: item for item in diagram.walk() if isinstance(item, DiagramCluster)}


def test_inputs_show_required_optional_and_default(document: Pipeline) -> None:
    boxes = _boxes(_diagram(document))
    assert (boxes["input_text"].kind, boxes["input_text"].type_name) == ("input", "str")
    optional = boxes["input_min_length"]
    assert (optional.kind, optional.type_name, optional.value) == ("optional", "int", "1")
    assert "min_length : int = 1" in document.to_mermaid()
    assert re.search(r"input_min_length \[[^\n]*style=\"rounded,filled,dashed\"", document.to_dot())


def test_nodes_list_their_outputs_with_types_split_from_a_tuple(document: Pipeline) -> None:
    rows = _boxes(_diagram(document))["node_count"].outputs
    assert [(row.name, row.type_name) for row in rows] == [("n_tokens", "int"), ("n_unique", "int")]


def test_show_types_false_hides_every_type(document: Pipeline) -> None:
    assert " : " not in document.to_mermaid(show_types=False)
    assert " : " in document.to_mermaid()


def test_edges_are_named_and_renames_show_both_names(corpus: Pipeline) -> None:
    labels = {(e.source, e.target): e.label for e in _diagram(corpus, depth=2).edges}
    assert labels[("input_documents", "node_per_document__clean")] == "documents → text"
    assert labels[("node_per_document__clean", "node_per_document__tokenize")] == "clean"
    assert labels[("node_per_document__count", "node_summarize")] == "n_tokens → lengths"
    assert labels[("input_corpus_name", "node_summarize")] == ""  # an input read under its own name


def test_depth_one_collapses_a_nested_pipeline_into_one_box(corpus: Pipeline) -> None:
    diagram = _diagram(corpus, depth=1)
    assert _clusters(diagram) == {}
    box = _boxes(diagram)["node_per_document"]
    assert (box.kind, box.mapped) == ("pipeline", True)
    assert "map over documents" in box.notes
    assert ("lengths", "list[int]") in [(row.name, row.type_name) for row in box.outputs]
    assert _boxes(diagram)["input_documents"].type_name == "list[str]"  # the items are str


def test_depth_expands_that_many_levels(three_levels: Pipeline) -> None:
    assert set(_clusters(_diagram(three_levels, depth=1))) == set()
    assert set(_clusters(_diagram(three_levels, depth=2))) == {"cluster_batch"}
    assert "node_batch__per_text" in _boxes(_diagram(three_levels, depth=2))
    expanded = _diagram(three_levels, depth=None)
    assert set(_clusters(expanded)) == {"cluster_batch", "cluster_batch__per_text"}
    assert {"node_batch__per_text__clean", "node_batch__per_text__count"} <= set(_boxes(expanded))
    assert "subgraph cluster_batch__per_text {" in three_levels.to_dot(depth=None)
    assert "subgraph cluster_batch__per_text[" in three_levels.to_mermaid(depth=None)


def test_a_mapped_cluster_says_what_it_maps_over_and_how(nested_map: Pipeline) -> None:
    cluster = _clusters(_diagram(nested_map, depth=2))["cluster_grid"]
    assert cluster.mapped
    assert "map over x, step (product)" in cluster.notes
    assert "pipeline step" in cluster.notes  # the node's name differs from its pipeline's


def test_output_name_highlights_what_the_run_executes(document: Pipeline) -> None:
    diagram = _diagram(document, output_name="tokens")
    states = {box_id: box.state for box_id, box in _boxes(diagram).items()}
    assert states == {
        "input_text": "active",
        "input_min_length": "active",
        "node_clean": "active",
        "node_tokenize": "active",
        "node_count": "inactive",
    }
    assert [row.requested for row in _boxes(diagram)["node_tokenize"].outputs] == [True]
    assert {e.target: e.state for e in diagram.edges}["node_count"] == "inactive"
    assert all(box.state == "plain" for box in _boxes(_diagram(document)).values())


def test_output_name_highlighting_reaches_into_nested_pipelines(corpus: Pipeline) -> None:
    diagram = _diagram(corpus, depth=2, output_name="vocabulary")
    states = {box_id: box.state for box_id, box in _boxes(diagram).items()}
    assert states["node_per_document__tokenize"] == "active"
    assert states["node_per_document__count"] == "inactive"  # vocabulary needs only the tokens
    assert states["node_summarize"] == states["input_corpus_name"] == "inactive"
    assert _clusters(diagram)["cluster_per_document"].state == "active"
    requested = _diagram(corpus, depth=2, output_name="lengths")
    rows = {row.name: row.requested for row in _boxes(requested)["node_per_document__count"].outputs}
    assert rows == {"n_tokens": True, "n_unique": False}  # inner n_tokens is exposed as lengths


def test_unknown_output_name_lists_the_outputs(document: Pipeline) -> None:
    with pytest.raises(InvalidArgumentError, match="'token'.*Did you mean 'tokens'"):
        document.to_dot(output_name="token")


def test_bad_depth_and_orient_are_errors(document: Pipeline) -> None:
    with pytest.raises(InvalidArgumentError, match="depth"):
        document.to_dot(depth=0)
    with pytest.raises(InvalidArgumentError, match="Did you mean 'LR'"):
        document.to_mermaid(orient="lr")  # type: ignore[arg-type]


def test_orient_sets_the_direction(document: Pipeline) -> None:
    assert "rankdir=LR" in document.to_dot(orient="LR")
    assert "\nflowchart RL\n" in document.to_mermaid(orient="RL")


def test_show_config_names_each_nodes_executor_and_backend(three_levels: Pipeline) -> None:
    boxes = _boxes(_diagram(three_levels, depth=None, show_config=True))
    assert "InlineExecutor() on LocalBackend()" in boxes["node_report"].notes
    assert "TaggedExecutor() on LocalBackend()" in boxes["node_batch__total"].notes
    assert "TaggedExecutor() on LocalBackend()" in boxes["node_batch__per_text__clean"].notes
    assert not any(
        "Executor" in note
        for note in _clusters(_diagram(three_levels, depth=None, show_config=True))["cluster_batch"].notes
    )
    assert "on LocalBackend" not in three_levels.to_dot(depth=None)


def test_show_config_on_a_collapsed_pipeline_names_what_its_nodes_run_with(three_levels: Pipeline) -> None:
    notes = _boxes(_diagram(three_levels, depth=1, show_config=True))["node_batch"].notes
    assert notes == ("TaggedExecutor() on LocalBackend()",)  # not the InlineExecutor of the level around it


def test_bound_inputs_are_drawn_with_their_values() -> None:
    diagram = _diagram(Pipeline(nodes=[double, add], name="bound").bind(squared=9))
    box = _boxes(diagram)["input_squared"]
    assert (box.kind, box.value) == ("bound", "9")
    assert ("input_squared", "node_add") in {(e.source, e.target) for e in diagram.edges}
    assert _boxes(_diagram(Pipeline(nodes=[double, add], name="unbound")))["input_squared"].kind != "bound"


def test_labels_escape_what_each_format_reserves() -> None:
    pipeline = Pipeline(nodes=[clean, join], name="escaping")
    assert "= '&lt;&quot;|&quot;&gt;'" in pipeline.to_dot()
    assert "= '#lt;#quot;|#quot;#gt;'" in pipeline.to_mermaid()
    assert '<"|">' not in pipeline.to_dot() + pipeline.to_mermaid()


def test_any_names_give_plain_ids_and_a_quoted_title() -> None:
    @node(output_name="résumé")
    def naïve(text: str) -> str:
        return text

    pipeline = Pipeline(nodes=[naïve, clean])  # unnamed: 'pipeline[résumé,clean]'
    ids = [item.id for item in _diagram(pipeline).walk()]
    assert ids == ["input_text", "node_na_ve", "node_clean"]
    assert '\ntitle: "pipeline[résumé,clean]"\n' in pipeline.to_mermaid()  # YAML would read [ as a list
    assert 'digraph "pipeline[résumé,clean]" {' in pipeline.to_dot()


@pytest.mark.parametrize("case", sorted(CASES))
def test_ids_are_unique_and_every_edge_joins_two_boxes(case: str, request: pytest.FixtureRequest) -> None:
    fixture, options = CASES[case]
    diagram = _diagram(request.getfixturevalue(fixture), **options)
    ids = [item.id for item in diagram.walk()]
    assert len(ids) == len(set(ids))
    boxes = set(_boxes(diagram))
    assert all(edge.source in boxes and edge.target in boxes for edge in diagram.edges)


def test_drawing_as_text_needs_no_graphviz() -> None:
    code = (
        "import sys\n"
        "sys.modules['graphviz'] = None  # importing it would fail\n"
        "from hypernodes import Pipeline\n"
        "from hypernodes.testing.nodes import clean, count\n"
        "p = Pipeline(nodes=[clean, count], name='p')\n"
        "print(p.to_dot().startswith('digraph'), p.to_mermaid().count('flowchart'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "1"]
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, hypernodes; print('graphviz' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"


# -- visualize() and real renderings ---------------------------------------------------------


def test_visualize_without_graphviz_says_what_to_install(document: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match=re.escape('pip install "hypernodes-core[viz]"')):
        document.visualize()


def test_visualize_returns_a_graphviz_source_of_the_dot_text(corpus: Pipeline) -> None:
    graphviz = pytest.importorskip("graphviz")
    picture = corpus.visualize(depth=2, output_name="summary")
    assert isinstance(picture, graphviz.Source)
    assert picture.source == corpus.to_dot(depth=2, output_name="summary")
    assert hasattr(picture, "_repr_mimebundle_")  # what Jupyter calls to display it


@needs_dot
def test_jupyter_display_is_an_svg(document: Pipeline) -> None:
    bundle = document.visualize()._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


@needs_dot
@pytest.mark.parametrize("case", sorted(CASES))
def test_dot_accepts_the_text_without_warnings(case: str, request: pytest.FixtureRequest) -> None:
    fixture, options = CASES[case]
    text = request.getfixturevalue(fixture).to_dot(**options)
    assert DOT is not None
    result = subprocess.run([DOT, "-Tsvg"], input=text, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    complaints = [line for line in result.stderr.splitlines() if not line.startswith("Fontconfig")]
    assert complaints == []  # a bad HTML label is only a warning, and a broken picture


@needs_dot
def test_visualize_writes_png_svg_and_pdf(corpus: Pipeline, tmp_path: Path) -> None:
    for suffix in ("png", "svg", "pdf"):
        corpus.visualize(depth=2, filename=tmp_path / f"corpus.{suffix}")
    assert (tmp_path / "corpus.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert (tmp_path / "corpus.pdf").read_bytes().startswith(b"%PDF")
    svg = ElementTree.parse(tmp_path / "corpus.svg")
    titles = {element.text for element in svg.iter("{http://www.w3.org/2000/svg}title")}
    diagram = _diagram(corpus, depth=2)
    assert {item.id for item in diagram.walk()} <= titles  # every box and frame is drawn
    assert {p.name for p in tmp_path.iterdir()} == {"corpus.png", "corpus.svg", "corpus.pdf"}  # no leftovers


def test_visualize_writes_dot_text_for_a_dot_suffix(document: Pipeline, tmp_path: Path) -> None:
    pytest.importorskip("graphviz")
    document.visualize(filename=tmp_path / "document.dot")
    assert (tmp_path / "document.dot").read_text(encoding="utf-8") == document.to_dot()


def test_visualize_rejects_a_filename_without_a_format(document: Pipeline, tmp_path: Path) -> None:
    pytest.importorskip("graphviz")
    with pytest.raises(InvalidArgumentError, match=r"\.png, \.svg or \.pdf; got '\.pgn'"):
        document.visualize(filename=tmp_path / "document.pgn")
