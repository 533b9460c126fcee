"""The examples in the repository's examples/ folder run and print what the docs say they print."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

# Each example with lines its output must contain (exactly, as whole lines).
EXPECTED_LINES: dict[str, list[str]] = {
    "quickstart.py": [
        "document inputs: ('text', 'min_length')",
        "output_name='tokens': {'tokens': ['the', 'cat', 'sat']}",
        "corpus inputs: ('documents', 'min_length', 'corpus_name')",
        "corpus lengths: [3, 5] vocabulary: ['barked', 'cat', 'dog', 'ran', 'sat', 'the']",
        "summary: pets: 2 documents, 9 tokens, 7 distinct",
        "summary: weather: 3 documents, 9 tokens, 7 distinct",
        "summary: empty: 0 documents, 0 tokens, 0 distinct",
        "error: pipeline 'corpus' is missing required input 'corpus_name' (needed by node 'summarize'). "
        "Pass it in inputs={'corpus_name': ...} or give the parameter a default.",
    ],
    "runtime_config_example.py": [
        "    two configs share the default executor: True",
        "    retries=1: {'page': '<html>b.example</html>', 'n_chars': 22}",
        "    fetch calls: 2 in the first run (a failure, then a retry), 0 in the second",
        "    callback: node 'measure' of 'crawl' returned {'n_chars': 22}",
        "    pipeline.config: None",
        "    inside the block: context -> {'page': '<html>g.example</html>', 'n_chars': 22}",
        "    a thread started inside the block sees: default",
        "    after a block that raised: default",
        "    use() wins over it: context",
        "    after set_default_config(None): default",
        "    explain(config=...): call-site",
    ],
    "fluent_api_example.py": [
        "inputs: ('url', 'marks') optional: ['marks']",
        "run: {'text': '<p>hello from a.example</p>', 'n_words': 3, 'loud': '<P>HELLO FROM A.EXAMPLE</P>!'}",
        "explain: node",
        "bound: {'marks': '!!!'} -> <P>HELLO FROM A.EXAMPLE</P>!!!",
        "  broken.example: failed in 'fetch'",
        "bounded fetch: timeout=5.0 retries=2",
        "run_async: 3",
    ],
    "callback_frames.py": [
        "words per sentence: [[1, 2, 3], [3], [1, 1]]",
        "document 0: 4 node calls",
        "document 1: 2 node calls",
        "document 2: 3 node calls",
    ],
    "custom_executor.py": [
        "{'words': ['a', 'b', 'c'], 'n_words': 3, 'shout': 'A B C'}",
        "{'n_words': [2, 1]}",
    ],
    "config_hierarchy_example.py": [
        "ran: indexing @ global; embedding x2 items @ global | index = {0: 1.5, 1: 2.75}",
        "ran: indexing @ context; embedding x2 items @ context | index = {0: 1.5, 1: 2.75}",
        "ran: indexing @ indexing; embedding x2 items @ embedding | index = {0: 1.5, 1: 2.75}",
        "ran: indexing @ indexing; embedding x2 items @ indexing; embed @ embed-node (x2) | index = {0: 1.5, 1: 2.75}",
        "ran: indexing @ indexing; embedding x2 items @ nested-node | index = {0: 1.5, 1: 2.75}",
        "ran: indexing @ call-site; embedding x2 items @ call-site | index = {0: 1.5, 1: 2.75}",
    ],
}


@pytest.mark.parametrize("script", sorted(EXPECTED_LINES))
def test_example_runs_cleanly_and_prints_its_expected_lines(script: str) -> None:
    path = EXAMPLES / script
    assert path.is_file(), f"{path} is missing"
    result = subprocess.run(
        [sys.executable, str(path)],
        cwd=EXAMPLES.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{script} exited with {result.returncode}:\n{result.stderr}"
    assert result.stderr == "", f"{script} wrote to stderr:\n{result.stderr}"
    lines = result.stdout.splitlines()
    missing = [line for line in EXPECTED_LINES[script] if line not in lines]
    assert not missing, f"{script} did not print {missing!r}; it printed:\n{result.stdout}"


def test_config_hierarchy_example_prints_every_explain_source() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "config_hierarchy_example.py")],
        cwd=EXAMPLES.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = [line for line in result.stdout.splitlines() if line.startswith(("per_document", "build_index"))]
    sources = {re.split(r"\s{2,}", row)[1] for row in rows}  # columns are separated by 2+ spaces
    assert sources >= {"call-site", "node", "pipeline", "parent", "context", "global", "default"}
