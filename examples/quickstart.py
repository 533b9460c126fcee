"""Quick start: text statistics for documents, for corpora of documents, for several corpora.

Three plain functions handle ONE document. HyperNodes wires them into a pipeline by name,
reuses that pipeline as a node mapped over the documents of a corpus, and maps the corpus
pipeline over several corpora. No function changes between the three levels.

Run it with:  uv run python examples/quickstart.py
"""

from __future__ import annotations

import string

from hypernodes import DependencyError, Pipeline, node


# -- one document ---------------------------------------------------------------------------
@node(output_name="clean")
def clean(text: str) -> str:
    """Lower-case the text and drop punctuation."""
    return text.lower().translate(str.maketrans("", "", string.punctuation))


@node(output_name="tokens")
def tokenize(clean: str, min_length: int = 1) -> list[str]:  # a default makes the input optional
    """Split on whitespace, keeping tokens of at least `min_length` characters."""
    return [token for token in clean.split() if len(token) >= min_length]


@node(output_name=("n_tokens", "n_unique"))  # a tuple name: the function returns a tuple
def count(tokens: list[str]) -> tuple[int, int]:
    """Count all tokens and distinct tokens."""
    return len(tokens), len(set(tokens))


# `tokenize` takes `clean`, so it runs after `clean`; `count` takes `tokens`, so it runs last.
document = Pipeline(nodes=[clean, tokenize, count], name="document")


# -- one corpus: the document pipeline as a node, mapped over the corpus's documents ----------
per_document = document.as_node(
    input_mapping={"documents": "text"},  # the outer list `documents` feeds the inner `text`
    # Exactly the mapped outputs are exposed: `n_tokens` as `lengths`, `tokens` under its own
    # name; the inner `clean` and `n_unique` stay private to the document pipeline.
    output_mapping={"n_tokens": "lengths", "tokens": "tokens"},
    map_over="documents",  # run `document` once per item; each exposed output becomes a list
    name="per_document",
)


@node(output_name="vocabulary")
def vocabulary(tokens: list[list[str]]) -> list[str]:
    """Collect the distinct tokens of every document, sorted."""
    return sorted({token for document_tokens in tokens for token in document_tokens})


@node(output_name="summary")
def summarize(corpus_name: str, lengths: list[int], vocabulary: list[str]) -> str:
    """Describe a corpus in one line."""
    return f"{corpus_name}: {len(lengths)} documents, {sum(lengths)} tokens, {len(vocabulary)} distinct"


corpus = Pipeline(nodes=[per_document, vocabulary, summarize], name="corpus")


def main() -> None:
    print("document inputs:", document.root_args)
    print("run:", document.run(inputs={"text": "The cat sat. The cat slept!"}))
    # Ask for one output: only the nodes it needs run (here clean and tokenize, not count).
    print("output_name='tokens':", document.run(inputs={"text": "The cat sat."}, output_name="tokens"))

    # Inputs of the inner pipeline that are not mapped stay inputs of the outer one, shared
    # by every item: `min_length` reaches `tokenize` for each document.
    print("corpus inputs:", corpus.root_args)
    pets = ["The cat sat.", "A dog ran, the dog barked."]
    result = corpus.run(inputs={"corpus_name": "pets", "documents": pets, "min_length": 3})
    print("corpus lengths:", result["lengths"], "vocabulary:", result["vocabulary"])

    # Map the corpus pipeline over several corpora (zip: the i-th name with the i-th list).
    corpora = {
        "pets": pets,
        "weather": ["Rain, rain, go away.", "Sun today; rain tomorrow?", "Snow."],
        "empty": [],
    }
    summaries = corpus.map(
        inputs={"corpus_name": list(corpora), "documents": list(corpora.values())},
        map_over=["corpus_name", "documents"],
        output_name="summary",
    )
    for line in summaries["summary"]:
        print("summary:", line)

    # A missing input fails before any node runs, naming the input and who needs it.
    try:
        corpus.run(inputs={"documents": pets})
    except DependencyError as error:
        print("error:", error)


if __name__ == "__main__":
    main()
