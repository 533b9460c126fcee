"""Fail fast before talking to Modal: credentials first, then a bounded check that the API answers (private).

Modal's own client fails at once when no token is configured, but retries for about a minute
when the API cannot be reached. A ``ModalBackend`` checks both before it opens an app
session, and turns each failure into one error that says how to fix it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from hypernodes import HyperNodesError

__all__ = ["check_credentials", "check_reachable"]

_AUTHENTICATE = (
    "Authenticate with `modal token new` (it writes ~/.modal.toml), or set MODAL_TOKEN_ID and "
    "MODAL_TOKEN_SECRET in the environment (MODAL_PROFILE picks a profile of ~/.modal.toml); "
    "or run offline with ModalBackend(mode='local')."
)


def check_credentials() -> None:
    """Raise unless Modal credentials (a token, or OAuth settings) are configured; no network.

    Raises:
        HyperNodesError: No credentials: the message says how to authenticate.
    """
    if _surely_absent():
        where = os.environ.get("MODAL_CONFIG_PATH") or "~/.modal.toml"
        raise HyperNodesError(
            "ModalBackend found no Modal credentials: no MODAL_TOKEN_ID/MODAL_TOKEN_SECRET in the environment "
            f"and no {where}. " + _AUTHENTICATE
        )
    from modal import config as modal_config  # Modal's own rules: profiles, variables, OAuth

    settings = modal_config.config
    if settings.get("token_id") and settings.get("token_secret"):
        return
    if _has_oauth(settings):
        return
    raise HyperNodesError(
        "ModalBackend found no Modal credentials: no MODAL_TOKEN_ID/MODAL_TOKEN_SECRET in the environment "
        f"and no token for profile {modal_config._profile!r} in {modal_config.user_config_path}. " + _AUTHENTICATE
    )


def _surely_absent() -> bool:
    """Return True when no credentials can exist, found without importing modal (which takes about a second)."""
    variables = ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_OAUTH_REFRESH_TOKEN", "MODAL_OAUTH_CLIENT_ID")
    if any(os.environ.get(name) for name in variables):
        return False
    return not os.path.exists(os.environ.get("MODAL_CONFIG_PATH") or os.path.expanduser("~/.modal.toml"))


def _has_oauth(settings: object) -> bool:
    get: Callable[[str], object] = settings.get  # type: ignore[attr-defined]
    try:
        return bool(get("oauth_refresh_token") and get("oauth_client_id"))
    except KeyError:  # an older client without OAuth settings
        return False


def check_reachable(timeout: float) -> None:
    """Raise unless the Modal API accepts a connection and answers a hello, both within `timeout` seconds.

    The TCP connection comes first (a refused or unroutable address fails at once, and name
    resolution cannot hang past the deadline), then Modal's own ``ClientHello``, which also
    checks the token. Both run in a daemon thread, so the wait is bounded even where Modal
    would retry.

    Raises:
        HyperNodesError: The API is unreachable, silent, or refused the token.
    """
    from modal import Client
    from modal import config as modal_config

    url = str(modal_config.config.get("server_url"))
    parts = urlsplit(url)
    host = parts.hostname or url
    port = parts.port or (80 if parts.scheme == "http" else 443)
    fix = (
        "Check the network (a proxy or firewall?) and MODAL_SERVER_URL, or raise "
        "ModalBackend(connect_timeout=...); run offline with ModalBackend(mode='local')."
    )

    deadline = time.monotonic() + timeout

    def connect() -> None:
        socket.create_connection((host, port), timeout=timeout).close()

    _within(deadline, timeout, connect, f"ModalBackend could not connect to the Modal API at {url}", fix)

    def hello() -> None:
        client = Client.from_env()
        client.hello()

    _within(deadline, timeout, hello, f"ModalBackend reached {url}, but the Modal API did not answer", fix)


def _within(deadline: float, timeout: float, function: Callable[[], None], failure: str, fix: str) -> None:
    """Run `function` in a daemon thread; raise `failure` if it raises or still runs at `deadline`.

    A thread still running then is left behind (a daemon); it has no effect but its retries.
    """
    errors: list[BaseException] = []

    def target() -> None:
        try:
            function()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="hypernodes-modal-connect", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise HyperNodesError(f"{failure} within connect_timeout={timeout}s. {fix}")
    if errors:
        error = errors[0]
        if type(error).__name__ == "AuthError":
            raise HyperNodesError(f"Modal refused the credentials ({error}). {_AUTHENTICATE}") from error
        raise HyperNodesError(f"{failure} ({type(error).__name__}: {error}). {fix}") from error
