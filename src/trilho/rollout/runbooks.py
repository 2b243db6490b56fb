"""Runbooks as code: the plan's actions on events (rollback, route to a fallback version, Slack-style
webhook).

The controller calls :func:`run_runbooks` after each event; every action's outcome is audited, a failing
action never stops the loop, and webhook URLs (which are secrets in Slack) appear in logs and evidence as
host only."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from trilho.obs import get_logger
from trilho.rollout.plan import Action, Plan

log = get_logger("trilho.rollout.runbooks")


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/services/T/B/secret`` → ``https://hooks.slack.com/…``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}/…"


def slack_body(
    event: str, model: str, candidate: str, reason: str, extra: dict[str, Any] | None = None
) -> dict:
    """A Slack-compatible message: ``text`` for every client plus one mrkdwn section block."""
    text = f"trilho rollout {event}: {model} candidate {candidate} — {reason}"
    fields = "".join(f"\n• *{k}*: {v}" for k, v in (extra or {}).items())
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*{fields}"}}],
    }


def run_runbooks(
    plan: Plan,
    event: str,
    *,
    service,
    rollout,
    reason: str,
    extra: dict[str, Any] | None = None,
    actor: str = "controller",
    client: httpx.Client | None = None,
) -> list[dict[str, Any]]:
    """Execute every action of every runbook listening to ``event``; returns (and audits) the outcomes."""
    outcomes: list[dict[str, Any]] = []
    for book in plan.runbooks:
        if book.on != event:
            continue
        for action in book.actions:
            outcome = _run(
                action,
                event,
                service=service,
                rollout=rollout,
                reason=reason,
                extra=extra,
                actor=actor,
                client=client,
            )
            outcomes.append(outcome)
            service.record(
                actor=actor,
                action="runbook",
                model=rollout.model,
                rollout_id=rollout.id,
                reason=f"on {event}: {outcome['action']} → {outcome['status']}",
                evidence=outcome,
            )
    return outcomes


def _run(action: Action, event: str, *, service, rollout, reason, extra, actor, client) -> dict[str, Any]:
    try:
        if action.rollback:
            res = service.transition(
                rollout.id, "rollback", actor=actor, reason=f"runbook on {event}: {reason}"
            )
            return {"action": "rollback", "status": "ok" if res.changed else "noop"}
        if action.route_to_fallback:
            out = service.route_to(
                rollout.model, action.route_to_fallback, actor=actor, reason=f"runbook on {event}: {reason}"
            )
            return {
                "action": "route_to_fallback",
                "version": action.route_to_fallback,
                "status": "ok",
                "generation": out["generation"],
            }
        hook = action.webhook
        assert hook is not None
        body = slack_body(event, rollout.model, rollout.candidate, reason, extra)
        own = client is None
        http = client or httpx.Client()
        try:
            resp = http.post(hook.url, json=body, timeout=hook.timeout)
        finally:
            if own:
                http.close()
        status = "ok" if resp.status_code < 400 else "failed"
        return {
            "action": "webhook",
            "url": redact_url(hook.url),
            "status": status,
            "http_status": resp.status_code,
        }
    except Exception as exc:
        log.warning("runbook action failed", event=event, error=f"{type(exc).__name__}")
        what = next(k for k in ("rollback", "route_to_fallback", "webhook") if getattr(action, k))
        detail = {"url": redact_url(action.webhook.url)} if action.webhook else {}
        return {"action": what, "status": "failed", "error": type(exc).__name__, **detail}
