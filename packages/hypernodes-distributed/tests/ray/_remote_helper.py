"""TEST-ONLY stand-in for RemoteBackend's run/map over a RayTarget (the lead wires RayTarget into remote.py).

``ThroughTarget`` does what ``RemoteBackend`` does with a target: encode the level as a core
run payload whose config runs in-process where it lands, send it (a map in chunks), relay the
events, decode the answers. It is an Executor only so that the behaviour suite can drive it.
"""

from __future__ import annotations

from typing import Any

from hypernodes.distributed._remote_ray import RayTarget
from hypernodes.executor import EventReceiver, Executor, InlineExecutor, MapRequest, RunPayload, RunRequest

CHUNK = 2  # items per task


class ThroughTarget(Executor):
    def __init__(self, target: RayTarget) -> None:
        self.target = target

    def run_pipeline(self, request: RunRequest) -> dict[str, Any]:
        payload = RunPayload.of_run(request, config=request.ctx.config.replace(executor=InlineExecutor()))
        receiver = EventReceiver(request.ctx)
        shared = payload.encode(receiver)
        return payload.decode(self.target.run(shared, [None], receiver)[0])[0]

    def map_items(self, request: MapRequest) -> list[dict[str, Any]]:
        if not request.items:
            return []
        payload = RunPayload.of_map(request, config=request.ctx.config.replace(executor=InlineExecutor()))
        receiver = EventReceiver(request.ctx)
        shared = payload.encode(receiver)
        starts = range(0, len(request.items), CHUNK)
        answers = self.target.run(shared, [payload.encode_items(s, s + CHUNK) for s in starts], receiver)
        return [outputs for start, answer in zip(starts, answers) for outputs in payload.decode(answer, start)]

    def close(self) -> None:
        self.target.close()
