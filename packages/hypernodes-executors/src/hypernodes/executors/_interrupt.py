"""Keep a waiting main thread responsive to Ctrl-C (private).

Python runs signal handlers in the main thread only, and the kernel may deliver SIGINT to
any thread: a main thread blocked in a lock wait then sleeps on, and the
``KeyboardInterrupt`` arrives only when the wait ends by itself. So the main thread waits in
short slices, each of which gives the interpreter a chance to raise it.
"""

from __future__ import annotations

import threading

__all__ = ["wait_slice"]

_SLICE = 0.1  # seconds; how late Ctrl-C may be noticed


def wait_slice() -> float | None:
    """Return how long one blocking wait may last in this thread (None: as long as needed)."""
    return _SLICE if threading.current_thread() is threading.main_thread() else None
