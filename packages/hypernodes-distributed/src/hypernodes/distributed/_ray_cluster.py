"""Connecting to Ray once per process, sharing it, and checking what a cluster can run (private).

Every RayExecutor (and the "ray" remote backend) of a process shares one Ray connection:
the first one used starts a local Ray, or connects to an address, unless Ray is already
initialised (by the user, or because the code runs inside a Ray worker). Only a connection
made here is shut down, and only when the last user that relied on it is closed; a Ray
initialised by someone else is never shut down.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from hypernodes import HyperNodesError, InvalidArgumentError

__all__ = ["check_resources", "connect", "release"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()  # guards _users and _ours
_users: set[str] = set()  # keys of the executors relying on the connection made here
_ours = False  # whether this module called ray.init (so it may call ray.shutdown)


def connect(user: str, address: str | None, init_options: Mapping[str, Any]) -> ModuleType:
    """Return the ``ray`` module, connected: to the Ray already initialised, else as asked.

    Args:
        user: A key naming who relies on the connection (released by :func:`release`).
        address: None (start a local Ray), ``"host:port"`` or ``"ray://host:port"``.
        init_options: More keyword arguments for ``ray.init`` when it is called here.

    Raises:
        HyperNodesError: (also a ``ConnectionError``) The cluster at `address` cannot be reached.
    """
    global _ours
    if address is not None:
        _enable_token_auth_if_available()  # before Ray is imported: it reads its config once
    try:
        import ray as ray_module
    except ImportError as exc:  # the extra is missing
        raise ImportError(
            "RayExecutor needs Ray: pip install 'hypernodes-distributed[ray]'"
        ) from exc
    ray: ModuleType = ray_module  # typed as a module whether or not Ray's own stubs are installed
    with _lock:
        if ray.is_initialized():
            if _ours:
                _users.add(user)
            return ray
        options: dict[str, Any] = {"include_dashboard": False, **init_options}
        if address is not None:
            options["address"] = address
        elif "RAY_ADDRESS" not in os.environ:
            # A new local Ray: never attach to whatever cluster this machine started last.
            options.setdefault("address", "local")
        logger.info("starting Ray" if address is None else "connecting to the Ray cluster at %s", address)
        try:
            ray.init(**options)
        except ConnectionError as exc:
            raise _RayConnectionError(
                f"cannot connect to the Ray cluster at {address!r} ({type(exc).__name__}: {exc}). Check the "
                "address (ray start prints it); a cluster of Ray >= 2.59 uses token authentication by default: "
                "set RAY_AUTH_MODE=token and make its token available here (~/.ray/auth_token, RAY_AUTH_TOKEN "
                "or RAY_AUTH_TOKEN_PATH), or start the cluster with RAY_AUTH_MODE=disabled."
            ) from exc
        _ours = True
        _users.add(user)
        return ray


def release(user: str) -> None:
    """Forget `user`; shut the connection made here down when nobody relies on it any more."""
    global _ours
    with _lock:
        _users.discard(user)
        if not _ours or _users:
            return
        _ours = False
        import ray

        logger.info("shutting down the Ray connection HyperNodes made")
        ray.shutdown()


class _RayConnectionError(HyperNodesError, ConnectionError):
    """The Ray cluster at the given address could not be reached (catch it as a ``ConnectionError``)."""


def _enable_token_auth_if_available() -> None:
    """Use token authentication when a token is at hand and the mode was left unset.

    A Ray >= 2.59 cluster started with ``ray start`` requires a token, but a driver
    connecting by address sends one only with ``RAY_AUTH_MODE=token``; Ray does the same for
    the clusters it starts itself. An explicit ``RAY_AUTH_MODE`` is always respected.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    token_file = Path(path) if path else Path.home() / ".ray" / "auth_token"
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        logger.info("found a Ray auth token: connecting with RAY_AUTH_MODE=token")
        os.environ["RAY_AUTH_MODE"] = "token"


def check_resources(ray: ModuleType, need: Mapping[str, float], owner: str, what: str) -> None:
    """Fail at once if no node of the cluster has the resources one task asks for.

    A Ray task asking for a resource that no node has stays pending forever, so this is
    checked against ``ray.cluster_resources()`` before anything is submitted.

    Args:
        ray: The connected ``ray`` module.
        need: Resource name -> amount one task asks for (``CPU``, ``GPU``, custom names).
        owner: Who asks, as the user wrote it (``RayExecutor(num_gpus=1)``).
        what: What was about to run (``pipeline 'p' (nodes 'a', 'b')``).

    Raises:
        InvalidArgumentError: Some resource is missing or too small.
    """
    wanted = {name: amount for name, amount in need.items() if amount > 0}
    if not wanted:
        return
    total = ray.cluster_resources()
    missing = {name: amount for name, amount in wanted.items() if total.get(name, 0.0) < amount}
    if not missing:
        return
    asked = ", ".join(f"{name}={amount:g}" for name, amount in missing.items())
    shown = (name for name in sorted(total) if not name.startswith("node:") and "memory" not in name)
    has = ", ".join(f"{name}={total[name]:g}" for name in shown)
    fix = (
        "connect to a cluster with a GPU (address=...) or drop num_gpus"
        if "GPU" in missing
        else "start Ray with those resources (ray.init(resources={...}) or ray start --resources=...), "
        "or ask for less"
    )
    raise InvalidArgumentError(
        f"{owner} cannot run {what}: each task asks for {asked}, but the Ray cluster has {has or 'nothing'}, "
        f"so its tasks would wait forever. Fix: {fix}."
    )
