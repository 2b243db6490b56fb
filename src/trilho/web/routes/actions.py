"""The rollout buttons (pause, resume, promote, rollback, kill): deployers act through
:class:`~trilho.rollout.RolloutService` with their token's actor; every refusal is audited."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trilho.errors import StoreError, TrilhoError
from trilho.obs import get_logger
from trilho.rollout import RolloutService
from trilho.web.context import Ui, Unauthorized, evidence

log = get_logger("trilho.web")
ACTIONS = ("pause", "resume", "promote", "rollback", "kill")


def allowed_actions(ro, kill: dict | None) -> set[str]:
    """Which buttons make sense for the rollout's phase (the server re-checks through the state machine)."""
    if ro is None:
        return {"kill"} if not kill else set()
    phase = ro.state.phase.value
    out = {"kill"} if not kill else set()
    if phase in ("shadow", "canary"):
        out |= {"pause", "promote", "rollback"}
    elif phase == "paused":
        out |= {"resume", "promote", "rollback"}
    elif phase in ("promoted",):
        out |= {"rollback"}
    return out


def routes(ui: Ui) -> list[Route]:
    """POST /rollouts/{model}/{action}."""
    service, refusals = ui.service, ui.refusals

    async def act(request: Request) -> Response:
        model, verb = request.path_params["model"], request.path_params["action"]
        try:  # the cookie is checked before a byte of the body is read
            principal = await run_in_threadpool(ui.principal_of, request)
        except Unauthorized:
            await run_in_threadpool(
                refusals.refused, "anonymous", "Unauthorized", evidence(request, model, 401)
            )
            raise
        form = await request.form()
        reason = str(form.get("reason", "")).strip()

        def work() -> Response:
            status = 500
            try:
                if verb not in ACTIONS:
                    raise HTTPException(404, f"there is no action {verb!r}; use one of {', '.join(ACTIONS)}")
                if not principal.allows("deployer"):
                    status = 403
                    raise HTTPException(
                        403,
                        f"role {principal.role} may not {verb}; it needs deployer (ask an admin for a token)",
                    )
                actor = principal.actor
                why = reason or f"{verb} from the dashboard by {actor}"
                if verb == "kill":
                    service.kill(model, actor=actor, reason=why)
                elif verb == "rollback":
                    service.rollback(model, actor=actor, reason=why)
                else:
                    getattr(service, verb)(model, actor=actor, reason=why)
                status = 303
                return RedirectResponse(f"/ui/rollouts/{model}?done={verb}", 303)
            except HTTPException as exc:
                status = exc.status_code
                raise
            except TrilhoError as exc:
                status = 503 if isinstance(exc, StoreError) else 409  # the audit notes a refusal
                raise
            finally:
                if status == 403:
                    refusals.refused(principal.actor, "Forbidden", evidence(request, model, 403, principal))
                elif status != 303:
                    _audit_refusal(service, principal, request, model, status)

        return await run_in_threadpool(work)

    return [Route("/rollouts/{model}/{action}", act, methods=["POST"])]


def _audit_refusal(service: RolloutService, principal, request: Request, model: str, status: int) -> None:
    try:
        service.record(
            actor=principal.actor if principal else "anonymous",
            action="api",
            model=model,
            reason=f"{request.method} {request.url.path} → {status} (dashboard)",
            evidence={
                "method": request.method,
                "path": request.url.path,
                "status": status,
                "role": principal.role if principal else None,
                "via": "dashboard",
            },
        )
    except TrilhoError as exc:
        log.error("could not audit a refused dashboard action", error=str(exc))
