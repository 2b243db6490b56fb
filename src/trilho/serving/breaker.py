"""A circuit breaker per model version: consecutive failures open it; after a cool-down one probe is let
through (half-open) and its result closes or re-opens it. Pure state machine with an injected clock.

Only model-wide failures are recorded (``Gateway._call``): a record the model fails on while it answers
others (``batching.RecordFailed``) is the caller's failure, counted apart, and never opens the breaker."""

from __future__ import annotations

from trilho.clock import Clock, SystemClock

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """``allow()`` before a call, then ``record_success()`` or ``record_failure()``."""

    def __init__(self, failures: int = 5, reset_after_s: float = 5.0, clock: Clock | None = None) -> None:
        self.threshold = failures
        self.reset_after_s = reset_after_s
        self.clock = clock or SystemClock()
        self.state = CLOSED
        self.consecutive_failures = 0
        self._opened_at = 0.0
        self._probe_out = False

    def allow(self) -> bool:
        """Whether a call may go to the model now (in half-open, only one probe at a time)."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and self.clock.monotonic() - self._opened_at >= self.reset_after_s:
            self.state = HALF_OPEN
            self._probe_out = False
        if self.state == HALF_OPEN and not self._probe_out:
            self._probe_out = True
            return True
        return False

    def record_success(self) -> None:
        """A call succeeded: the breaker closes."""
        self.state = CLOSED
        self.consecutive_failures = 0
        self._probe_out = False

    def record_failure(self) -> None:
        """A call failed: the threshold-th failure in a row (or a failed probe) opens the breaker."""
        self.consecutive_failures += 1
        if self.state == HALF_OPEN or self.consecutive_failures >= self.threshold:
            self.state = OPEN
            self._opened_at = self.clock.monotonic()
            self._probe_out = False
