"""The streaming rail as it was before the gate (kept only as the benchmark's baseline, not used by trilho):
release all but the last ``holdback`` characters and re-run the policy's output checks on a window starting
``holdback`` characters before what was sent, on every piece. ``benchmarks.bench_llm_gateway`` measures it
beside :class:`trilho.evals.stream_rails.StreamRail` (time to first token through a gateway, CPU per KB).
"""

from __future__ import annotations

from trilho.evals.checks import CheckContext
from trilho.evals.checks.pii import redact
from trilho.evals.policy import Action, Policy, PolicyVerdict
from trilho.evals.stream_rails import DEFAULT_HOLDBACK, RailRecord, RailStep


class FixedHoldbackRail:
    """The fixed-holdback stream rail (trilho before the gate): ``feed`` each piece, then ``finish``."""

    def __init__(
        self, policy: Policy, holdback: int = DEFAULT_HOLDBACK, ctx: CheckContext | None = None
    ) -> None:
        self.policy = policy
        self.holdback = max(0, int(holdback))
        self.ctx = ctx or CheckContext()
        self.text = ""
        self.released = 0  # characters of ``text`` already let through
        self.record = RailRecord("output", [s.id for s in policy.specs_for("output")])
        self.stopped = False
        self._hold: int | None = None  # release nothing from here on until a growing match settles
        self._actions = {s.id: s.action for s in policy.specs_for("output")}

    def feed(self, piece: str) -> RailStep:
        """Add a piece of the answer; returns what may be sent now (or the block)."""
        if self.stopped:
            return RailStep()
        self.text += piece
        if not self.record.checks:
            return self._release(len(self.text))
        step = self._evaluate(max(0, self.released - self.holdback), final=False)
        if step is not None:
            return step
        upto = len(self.text) - self.holdback
        return self._release(upto if self._hold is None else min(upto, self._hold))

    def finish(self) -> RailStep:
        """The answer is complete: check all of it, then release the held-back tail."""
        if self.stopped:
            return RailStep()
        if self.record.checks:
            step = self._evaluate(0, final=True)
            if step is not None:
                return step
        return self._release(len(self.text))

    def _evaluate(self, start: int, final: bool) -> RailStep | None:
        """Check ``text[start:]``; stop, redact the held-back text, or hold back from a match that may grow.

        Only matches that reach past the text already sent count (one wholly inside it was judged while it was
        held back; seeing it again is the window's cut edge), and before ``final`` a match touching the end of
        the text is not settled (``sk-abc`` may still grow, a word-bounded term may still run on)."""
        window = self.text[start:]
        verdict = self.policy.evaluate(window, on="output", ctx=self.ctx)
        self.record.add(verdict, len(window))
        self._hold = None
        if verdict.action not in (Action.BLOCK, Action.REDACT):
            self.record.decide(verdict.action, verdict.violations)
            return None
        sent = self.released - start
        block, spans, hold, hit = False, [], None, []
        for r in verdict.results:
            action = self._actions.get(r.check, Action.BLOCK)
            if r.error is not None:  # a failing check under ``fail: closed`` blocks
                block = block or r.check in verdict.violations
            elif r.passed or action not in (Action.BLOCK, Action.REDACT):
                continue
            elif not any(f.start is not None for f in r.findings):
                block = True  # a failure with no span to wait for or redact
                hit.append(r.check)
            else:
                live = [f for f in r.findings if f.start is not None and (f.end or 0) > sent]
                settled = [f for f in live if final or (f.end or 0) < len(window)]
                pending = [f.start or 0 for f in live if f not in settled]
                if pending:
                    hold = min([*pending, hold if hold is not None else len(window)])
                if settled:
                    hit.append(r.check)
                    block = block or action is Action.BLOCK
                    spans += settled
        if block:
            return self._stop(verdict, hit or list(verdict.violations))
        if hold is not None:  # decide when the match has settled; nothing from it leaves meanwhile
            self._hold = start + min([hold, *(f.start or 0 for f in spans)])
            return None
        if spans:
            if any((f.start or 0) < sent for f in spans):  # the span began in text already sent
                return self._stop(verdict, hit)
            self.text = self.text[:start] + redact(window, spans)
            self.record.decide(Action.REDACT, hit)
        return None

    def _stop(self, verdict: PolicyVerdict, violations: list[str]) -> RailStep:
        self.stopped = True
        self.record.decide(Action.BLOCK, violations)
        return RailStep(blocked=verdict)

    def _release(self, upto: int) -> RailStep:
        if upto <= self.released:
            return RailStep()
        out = self.text[self.released : upto]
        self.released = upto
        return RailStep(release=out)
