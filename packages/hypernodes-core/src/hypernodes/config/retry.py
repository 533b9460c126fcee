"""``RetryPolicy``: how often, how late and on which errors a failed node call is tried again."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hypernodes.errors import InvalidArgumentError

__all__ = ["RetryPolicy", "as_retry_policy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Try a failed node call again, up to `attempts` more times, on the listed exception types.

    ``retries=2`` in a ``RuntimeConfig`` means ``RetryPolicy(attempts=2)``: three calls in all,
    no wait, on any ``Exception``. Retry k (counting from 0) waits ``delay * backoff**k``
    seconds plus a uniform random ``[0, jitter]``. Only exceptions that are instances of `on`
    are retried: a ``TypeError`` from a bug is raised at once when ``on=(ConnectionError,)``.
    A ``NodeTimeoutError`` is a ``TimeoutError``: list it (or ``TimeoutError``) to retry timeouts.

    Args:
        attempts: Extra attempts after the first call (0: no retry).
        delay: Seconds before the first retry.
        backoff: Factor applied to the delay for each later retry.
        jitter: Up to this many random seconds added to each wait.
        on: Exception types that are retried.

    >>> policy = RetryPolicy(3, delay=0.5, backoff=2.0, on=(ConnectionError,))
    >>> [policy.wait(k) for k in range(3)], policy.retries(ConnectionResetError()), policy.retries(TypeError())
    ([0.5, 1.0, 2.0], True, False)
    """

    attempts: int
    delay: float = 0.0
    backoff: float = 1.0
    jitter: float = 0.0
    on: tuple[type[BaseException], ...] = field(default=(Exception,))

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 0:
            raise InvalidArgumentError(
                f"RetryPolicy(attempts=...) must be an int >= 0 (extra attempts), got {self.attempts!r}"
            )
        for name in ("delay", "backoff", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InvalidArgumentError(f"RetryPolicy({name}=...) must be a number >= 0, got {value!r}")
        on: Any = self.on
        if isinstance(on, type):
            on = (on,)
        on = tuple(on)
        if not on or not all(isinstance(t, type) and issubclass(t, BaseException) for t in on):
            raise InvalidArgumentError(
                f"RetryPolicy(on=...) takes exception types such as (ConnectionError, TimeoutError), got {self.on!r}"
            )
        object.__setattr__(self, "on", on)

    def retries(self, error: BaseException) -> bool:
        """Return whether `error` is of a type this policy retries."""
        return isinstance(error, self.on)

    def wait(self, retry: int) -> float:
        """Return the seconds to wait before retry number `retry` (0 for the first retry)."""
        seconds = self.delay * self.backoff**retry
        if self.jitter:
            seconds += random.uniform(0.0, self.jitter)
        return seconds


_BY_COUNT: dict[int, RetryPolicy] = {}


def as_retry_policy(retries: int | RetryPolicy) -> RetryPolicy:
    """Return the policy that `retries` (an int or a policy) stands for (ints: made once each)."""
    if isinstance(retries, RetryPolicy):
        return retries
    policy = _BY_COUNT.get(retries)
    if policy is None:
        policy = _BY_COUNT.setdefault(retries, RetryPolicy(attempts=retries))
    return policy
