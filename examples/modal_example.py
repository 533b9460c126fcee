"""A pipeline, and one node of it, on Modal — run here offline, or in Modal's cloud when you have a token.

Without Modal credentials this runs the **local path**: ``ModalBackend(mode="local")`` runs
the very Function body a container would (Modal's ``Function.local``), with the same payload
bytes, event relay and error handling, so you can try everything before paying for
containers. With credentials (``modal token new``) it runs remotely: the default image is
built once (a few minutes the first time, then cached by Modal), containers start cold
(seconds), and the cache lands on a ``modal.Volume``.

    uv run --with modal python examples/modal_example.py
"""

from __future__ import annotations

import hashlib
import math

import modal

from hypernodes import CacheSpec, Pipeline, ProgressCallback, RuntimeConfig, node
from hypernodes.modal import ModalBackend

CACHE_DIR = "/tmp/hypernodes-example-cache"  # where the Volume is mounted in the containers


@node(output_name="tokens")
def tokenize(text: str) -> list[str]:
    return text.lower().split()


@node(output_name="embedding")
def embed(tokens: list[str], dim: int = 8) -> list[float]:
    """Stands in for a model that wants a GPU: a deterministic vector per text."""
    digest = hashlib.sha256(" ".join(tokens).encode()).digest()
    return [byte / 255 for byte in digest[:dim]]


@node(output_name="norm")
def norm(embedding: list[float]) -> float:
    return math.sqrt(sum(value * value for value in embedding))


def has_credentials() -> bool:
    settings = modal.config.config
    return bool(settings.get("token_id") and settings.get("token_secret"))


def main() -> None:
    mode = "remote" if has_credentials() else "local"
    print(f"running the {mode} path" + ("" if mode == "remote" else " (no Modal credentials found)"))
    volume = modal.Volume.from_name("hypernodes-example-cache", create_if_missing=True)
    texts = ["Modal runs containers", "HyperNodes maps items", "one config changes where"]
    pipeline = Pipeline(nodes=[tokenize, embed, norm], name="embed_texts")

    # 1. The whole pipeline on Modal: the items fan out over containers with Function.map,
    #    the cache is built in the containers on the Volume and committed after each call.
    with ModalBackend(volumes={CACHE_DIR: volume}, max_containers=2, mode=mode, app_name="hypernodes-example") as cpu:
        config = RuntimeConfig(
            backend=cpu, cache=CacheSpec(kind="disk", path=CACHE_DIR), callbacks=[ProgressCallback()]
        )
        for attempt in ("cold", "warm"):
            out = pipeline.map(inputs={"text": texts}, map_over="text", output_name="norm", config=config)
            print(attempt, [round(value, 3) for value in out["norm"]])

    # 2. One node on a GPU, the rest here: only `embed` is sent to Modal.
    with ModalBackend(gpu="T4", mode=mode, app_name="hypernodes-example-gpu") as gpu:
        on_gpu = Pipeline(nodes=[tokenize, embed.with_config(RuntimeConfig(backend=gpu)), norm], name="gpu_node")
        print("one node on a T4:", round(on_gpu.run(inputs={"text": texts[0]})["norm"], 3))


if __name__ == "__main__":
    main()
