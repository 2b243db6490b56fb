"""Guardrails on text that arrives piece by piece (an LLM answer streamed token by token), incrementally.

:class:`StreamRail` releases each word as soon as it is complete (the last, unfinished word is held: it may
still grow into a match) unless it could be part of a match: words holding a *trigger* of the policy's span
checks (a digit or ``@`` for PII, ``sk-``/``key``/``BEGIN``… for secrets; see :mod:`trilho.evals.stream_gate`)
are held from the first such word until it is ``holdback`` characters old (with the trigger words that follow
it closer than that: one cluster), then the span checks run once on a window of the new text plus a small
overlap before it. Words with no trigger are never checked mid-stream — no check could match them — so clean
prose costs a regex search per piece. ``block`` stops the stream; ``redact`` rewrites held text before it
leaves (a match reaching text already sent stops the stream instead). ``finish`` runs the whole policy once on
the whole answer: that verdict is the non-streamed one, and the stream's output is exactly its text (what was
sent is its prefix, the rest follows) or the stream stops — so streaming never lets through what the whole
answer's check would not (``tests/evals/test_stream_rails.py`` checks it over arbitrary chunkings). The
assumption, as for any holdback: a match reaches at most ``holdback`` characters past its cluster's last
trigger word.

Every evaluation is counted in :attr:`StreamRail.record`: the checks that ran, how many windows and characters
they saw, and the deciding verdict — so the record claims exactly the checks that ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trilho.evals.checks import CheckContext
from trilho.evals.checks.base import Finding
from trilho.evals.checks.pii import redact
from trilho.evals.policy import _RANK, Action, Policy, PolicyVerdict
from trilho.evals.stream_gate import gate_for

DEFAULT_HOLDBACK = 48  # characters a word with a trigger is held after it (a match starting there may grow)
OVERLAP = 32  # characters of already-sent text a window starts with (context for lookbehinds)
_SPACE = " \n\t"  # word separators (other whitespace is part of a word: held longer, never less)


@dataclass
class RailStep:
    """What a piece of the stream lets through: ``release`` (text to send now), or ``blocked`` (stop)."""

    release: str = ""
    blocked: PolicyVerdict | None = None


@dataclass
class RailRecord:
    """What a rail checked on one text: stage, checks run, windows and characters seen, the outcome."""

    stage: str
    checks: list[str]
    windows: int = 0
    chars_checked: int = 0
    action: str = "allow"
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, verdict: PolicyVerdict, chars: int) -> None:
        """Count one evaluation of ``chars`` characters (what it cost, the errors it met)."""
        self.windows += 1
        self.chars_checked += chars
        self.seconds += verdict.seconds
        self.errors += [e for e in verdict.errors if e not in self.errors]

    def decide(self, action: Action, violations: tuple[str, ...] | list[str]) -> None:
        """Record an action taken; the strongest one taken is the record's."""
        self.violations += [v for v in violations if v not in self.violations]
        if _RANK[action] > _RANK[Action(self.action)]:
            self.action = str(action)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "stage": self.stage,
            "checks": self.checks,
            "windows": self.windows,
            "chars_checked": self.chars_checked,
            "action": self.action,
            "violations": self.violations,
            "errors": self.errors,
            "seconds": round(self.seconds, 6),
        }


def check_text(
    policy: Policy, text: str, stage: str, ctx: CheckContext | None = None
) -> tuple[PolicyVerdict, RailRecord]:
    """Run ``policy``'s checks for ``stage`` (``input``/``output``) on a whole text, with its record."""
    record = RailRecord(stage, [s.id for s in policy.specs_for(stage)])
    verdict = policy.evaluate(text, on=stage, ctx=ctx)
    record.add(verdict, len(text))
    record.decide(verdict.action, verdict.violations)
    return verdict, record


class StreamRail:
    """Output rails over a stream: ``feed`` each piece, then ``finish``; see the module docstring."""

    def __init__(
        self, policy: Policy, holdback: int = DEFAULT_HOLDBACK, ctx: CheckContext | None = None
    ) -> None:
        self.policy = policy
        self.holdback = max(0, int(holdback))
        self.ctx = ctx or CheckContext()
        self.text = ""  # the answer as received
        self.released = 0  # characters of ``text`` already let through
        self.record = RailRecord("output", [s.id for s in policy.specs_for("output")])
        self.stopped = False
        self._gate = gate_for(policy)
        self._actions = {s.id: s.action for s in policy.specs_for("output")}
        self._cut = 0  # start of the unfinished last word
        self._triggers: list[list[int]] = []  # [start, end] of held words with a trigger, by start
        self._spans: list[Finding] = []  # redactions decided in held text (positions in ``text``)
        self._sent: list[str] = []

    @property
    def sent(self) -> str:
        """All the text let through so far (redactions applied): what the client received."""
        return "".join(self._sent)

    def feed(self, piece: str) -> RailStep:
        """Add a piece of the answer; returns what may be sent now (or the block)."""
        if self.stopped or not piece:
            return RailStep()
        base = len(self.text)
        self.text += piece
        if self._gate.span is None:  # nothing to check mid-stream
            return self._release(len(self.text))
        last = max(piece.rfind(" "), piece.rfind("\n"), piece.rfind("\t"))
        if last >= 0 and base + last + 1 > self._cut:
            self._scan(base + last + 1)
        frontier = self._frontier()
        if frontier <= self.released:
            return RailStep()
        if self._triggers and self._triggers[0][0] < frontier:  # a word with a trigger would leave
            step = self._evaluate(frontier, final=False)
            if isinstance(step, RailStep):
                return step
            frontier = step
        return self._release(frontier)

    def finish(self) -> RailStep:
        """The answer is complete: the whole policy on all of it decides; the rest of its text leaves."""
        if self.stopped:
            return RailStep()
        if not self.record.checks:
            return self._release(len(self.text))
        verdict = self.policy.evaluate(self.text, on="output", ctx=self.ctx)
        self.record.add(verdict, len(self.text))
        if verdict.action is Action.BLOCK:
            return self._stop(verdict, list(verdict.violations))
        sent = "".join(self._sent)
        if not verdict.text.startswith(sent):  # the stream let out what the whole answer's verdict changes
            self.record.errors.append("stream: sent text differs from the whole answer's verdict")
            return self._stop(verdict, list(verdict.violations) or ["stream"])
        self.record.decide(verdict.action, verdict.violations)
        self.released = len(self.text)
        out = verdict.text[len(sent) :]
        self._sent.append(out)
        return RailStep(release=out)

    def _scan(self, cut: int) -> None:
        """Find the words with a trigger among the words completed up to ``cut``."""
        text, gate, pos = self.text, self._gate, self._cut
        self._cut = cut
        first = gate.exact.search(text, pos, cut)
        starts = [] if first is None else [m.start() for m in gate.exact.finditer(text, first.start(), cut)]
        if gate.folded is not None:
            region = text[pos:cut]
            if not region.isascii():
                starts += [m.start() for m in gate.any_case.finditer(text, pos, cut)]
            elif gate.folded.search(lowered := region.lower()) is not None:  # lower-casing keeps positions
                starts += [pos + m.start() for m in gate.folded.finditer(lowered)]
        if not starts:
            return
        trig = self._triggers
        for at in sorted(starts):
            if trig and trig[-1][0] <= at < trig[-1][1]:
                continue  # in the word just marked
            start = _word_start(text, at)
            end = _word_end(text, at, cut)
            if trig and trig[-1][0] == start:
                trig[-1][1] = max(trig[-1][1], end)
            else:
                trig.append([start, end])

    def _frontier(self) -> int:
        """How far text may leave: up to the unfinished word, and while the last trigger word is young
        (within ``holdback`` characters of the end), up to the first word of its cluster — trigger words each
        less than ``holdback`` apart (the groups of a card number, an IBAN, a key and its value)."""
        trig = self._triggers
        if not trig or trig[-1][1] <= len(self.text) - self.holdback:
            return self._cut
        i = len(trig) - 1
        while i > 0 and trig[i - 1][1] > trig[i][0] - self.holdback:
            i -= 1
        return min(self._cut, trig[i][0])

    def _evaluate(self, frontier: int, final: bool) -> RailStep | int:
        """Run the span checks on the text from a little before what was sent; returns how far text may leave
        now (held back to a match that may still grow or straddles the frontier), or the block."""
        ws = _word_start(self.text, max(0, self.released - OVERLAP))
        window = self.text[ws:]
        assert self._gate.span is not None
        verdict = self._gate.span.evaluate(window, on="output", ctx=self.ctx)
        self.record.add(verdict, len(window))
        if verdict.action not in (Action.BLOCK, Action.REDACT):
            return frontier
        sent, limit, n = self.released - ws, frontier - ws, len(window)
        block, hold, spans, hit = False, limit, [], []
        for r in verdict.results:
            action = self._actions.get(r.check, Action.BLOCK)
            if r.error is not None:  # a failing check under ``fail: closed`` blocks
                block = block or r.check in verdict.violations
                continue
            if r.passed or action not in (Action.BLOCK, Action.REDACT):
                continue
            if not any(f.start is not None for f in r.findings):
                block = True  # a failure with no span to wait for or redact
                hit.append(r.check)
                continue
            for f in r.findings:
                start, end = f.start or 0, f.end or 0
                if f.start is None or end <= sent or start >= limit:
                    continue  # judged while it was held, or too young to judge
                if start < sent or (action is Action.BLOCK and (final or end < n)):
                    block = True  # a match reaching sent text, or a settled one that blocks
                    hit.append(r.check)
                elif (end >= n and not final) or end > limit:
                    hold = min(hold, start)  # may still grow / straddles the frontier: decide later
                else:
                    spans.append(f)
                    hit.append(r.check)
        if block:
            return self._stop(verdict, hit or list(verdict.violations))
        for f in sorted(spans, key=lambda f: -(f.start or 0)):  # never cut inside a redaction
            if (f.start or 0) < hold < (f.end or 0):
                hold = f.start or 0
        kept = [f for f in spans if (f.end or 0) <= hold]
        if kept:
            self.record.decide(Action.REDACT, hit)
            pos = self._spans[-1].end or 0 if self._spans else 0
            for f in sorted(kept, key=lambda f: f.start or 0):
                if ws + (f.start or 0) >= max(pos, self.released):
                    self._spans.append(Finding(f.kind, ws + (f.start or 0), ws + (f.end or 0)))
                    pos = ws + (f.end or 0)
        return ws + hold

    def _stop(self, verdict: PolicyVerdict, violations: list[str]) -> RailStep:
        self.stopped = True
        self.record.decide(Action.BLOCK, violations)
        return RailStep(blocked=verdict)

    def _release(self, upto: int) -> RailStep:
        if upto <= self.released:
            return RailStep()
        start = self.released
        out = self.text[start:upto]
        if self._spans:
            spans = [
                Finding(f.kind, (f.start or 0) - start, (f.end or 0) - start)
                for f in self._spans
                if (f.start or 0) < upto
            ]
            out = redact(out, spans)
            self._spans = [f for f in self._spans if (f.start or 0) >= upto]
        self.released = upto
        if self._triggers:
            self._triggers = [t for t in self._triggers if t[0] >= upto]
        self._sent.append(out)
        return RailStep(release=out)


def _word_start(text: str, pos: int) -> int:
    """Where the word holding ``text[pos]`` starts (just after the whitespace before it)."""
    return max(text.rfind(c, 0, pos) for c in _SPACE) + 1


def _word_end(text: str, pos: int, limit: int) -> int:
    """Where the word going on at ``pos`` ends (the next whitespace, at most ``limit``)."""
    ends = [i for i in (text.find(c, pos, limit) for c in _SPACE) if i >= 0]
    return min(ends) if ends else limit
