"""`trilho rollout …`, `trilho audit verify` and `trilho controller`: thin commands over trilho.rollout."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from trilho.cli._common import JsonFlag, emit, handles_errors, open_store, server_logs, settings
from trilho.config import AUDIT_CHECKPOINT_ENV
from trilho.errors import CheckFailed

app = typer.Typer(
    help="Roll a candidate out: shadow → canary → full, judged by statistics.", no_args_is_help=True
)
audit_app = typer.Typer(help="The rollout audit log.", no_args_is_help=True)
token_app = typer.Typer(help="Control-API tokens (stored hashed).", no_args_is_help=True)
plan_app = typer.Typer(help="Named rollout plans.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(plan_app, name="plan")

Actor = Annotated[
    str | None, typer.Option("--actor", envvar="TRILHO_ACTOR", help="Who acts (default: $USER).")
]
Reason = Annotated[str | None, typer.Option("--reason", help="Why (recorded in the audit log).")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="rollout")
    root.add_typer(audit_app, name="audit")
    root.command("controller")(controller)


def _actor(actor: str | None) -> str:
    if actor:
        return actor if ":" in actor else f"user:{actor}"
    try:
        return f"user:{getpass.getuser()}"
    except Exception:
        return "user:unknown"


def _service(ctx: typer.Context, *, skip_gates: str | None = None, actor: str = "user:unknown"):
    from trilho.registry import existing_signing_key
    from trilho.rollout.gates import registry_gates
    from trilho.rollout.gates import skip_gates as skipper
    from trilho.rollout.service import RolloutService

    store = open_store(ctx)
    gates = (
        skipper(actor, skip_gates)
        if skip_gates
        else registry_gates(store, settings(ctx).artifacts_url, key=existing_signing_key(settings(ctx).home))
    )
    return RolloutService(store, gates=gates)


def _render_rollout(data: dict[str, Any]):
    from trilho.rollout.service import plan_label, waits_for

    def render(c: Console) -> None:
        colour = {"promoted": "green", "rolled_back": "red", "killed": "red", "aborted": "red"}.get(
            data["phase"], "cyan"
        )
        c.print(
            f"rollout {data['id']} {data['model']} {data['baseline']} → {data['candidate']}: "
            f"[{colour}]{data['phase']}[/] {data['position']}",
            Text(f"  ({plan_label(data['plan'], data.get('plan_source'))})", style="dim"),
            soft_wrap=True,
        )
        if data.get("minimums"):
            c.print(Text(f"  waits for {waits_for(data['minimums'])}"), soft_wrap=True)

    return render


@app.command("start")
@handles_errors
def start(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name (it must have a deployment).")],
    candidate: Annotated[str, typer.Option("--candidate", help="Version to roll out.")],
    plan: Annotated[str, typer.Option("--plan", help="Plan YAML file or saved plan name.")],
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Compare against (default: stable).")
    ] = None,
    skip_gates: Annotated[
        str | None, typer.Option("--skip-gates", help="Skip the gates, giving a reason (audited).")
    ] = None,
    actor: Actor = None,
    json_out: JsonFlag = False,
) -> None:
    """Run the candidate's gates and start the plan; exit 1 if a gate fails (then no traffic)."""
    who = _actor(actor)
    ro = _service(ctx, skip_gates=skip_gates, actor=who).start(
        name, candidate, plan, actor=who, baseline=baseline
    )
    data = ro.to_dict()
    emit(data, json_out, _render_rollout(data))


@app.command("status")
@handles_errors
def status(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Model name (default: every active rollout).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Where a model's latest rollout is (or every active rollout)."""
    svc = _service(ctx)
    rows = [svc.latest(name).to_dict()] if name else [r.to_dict() for r in svc.active()]
    kills = svc.kills()

    def render(c: Console) -> None:
        if not rows:
            c.print("no active rollouts")
        for row in rows:
            _render_rollout(row)(c)
        for model, k in kills.items():
            c.print(f"[bold red]kill switch[/] {model}: {k['mode']} by {k['actor']} ({k['reason']})")

    emit(rows[0] if name else {"rollouts": rows, "kills": list(kills.values())}, json_out, render)


def _simple(verb: str):
    def command(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="Model name.")],
        reason: Reason = None,
        actor: Actor = None,
        json_out: JsonFlag = False,
    ) -> None:
        who = _actor(actor)
        svc = _service(ctx)
        fn = getattr(svc, verb)
        ro = fn(name, actor=who, reason=reason or f"{verb} by {who}")
        data = ro.to_dict()
        emit(data, json_out, _render_rollout(data))

    command.__doc__ = {
        "pause": "Hold the current step (a failing check still rolls back).",
        "resume": "Continue a paused rollout.",
        "promote": "Skip the remaining steps: the candidate becomes stable now.",
    }[verb]
    return command


for _verb in ("pause", "resume", "promote"):
    app.command(_verb)(handles_errors(_simple(_verb)))


@app.command("rollback")
@handles_errors
def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    to: Annotated[str | None, typer.Option("--to", help="One of the last stable versions.")] = None,
    reason: Reason = None,
    actor: Actor = None,
    json_out: JsonFlag = False,
) -> None:
    """Back to the previous stable version at once (or --to one of the last few)."""
    who = _actor(actor)
    out = _service(ctx).rollback(name, actor=who, to=to, reason=reason or f"rollback by {who}")
    emit(out, json_out, lambda c: c.print(f"{name}: rolled back (routing generation {out['generation']})"))


@app.command("kill")
@handles_errors
def kill(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    all_: Annotated[
        bool, typer.Option("--all", help="Stable is bad too: answer the static fallback.")
    ] = False,
    release: Annotated[bool, typer.Option("--release", help="Turn the kill switch off.")] = False,
    reason: Reason = None,
    actor: Actor = None,
    json_out: JsonFlag = False,
) -> None:
    """Kill switch: 0 % to every non-stable version now (needs no metrics; persisted)."""
    who = _actor(actor)
    svc = _service(ctx)
    if release:
        out = svc.release_kill(name, actor=who, reason=reason or f"released by {who}")
    else:
        out = svc.kill(
            name, actor=who, mode="all" if all_ else "candidates", reason=reason or f"kill by {who}"
        )
    emit(
        out,
        json_out,
        lambda c: c.print(f"{name}: kill switch {out['mode']} (routing generation {out['generation']})"),
    )


@app.command("history")
@handles_errors
def history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the last N entries.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """The audit trail of a model's rollouts: who did what, when, why (reasons wrapped whole; --json)."""
    rows = _service(ctx).history(name, limit=limit)

    def render(c: Console) -> None:
        # The whole reason, wrapped at word boundaries (plain text: a reason's brackets are not markup).
        t = Table(
            "seq", Column("at", no_wrap=True), "actor", "action", Column("reason", ratio=1, overflow="fold")
        )
        for r in rows:
            t.add_row(str(r["seq"]), r["at"][:19], Text(r["actor"]), r["action"], Text(r["reason"]))
        c.print(t)

    emit(rows, json_out, render)


CheckpointFile = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        envvar="TRILHO_AUDIT_CHECKPOINT",
        help="JSON-lines file of signed checkpoints (kept where the store's writer cannot rewrite it).",
    ),
]


@audit_app.command("verify")
@handles_errors
def verify(ctx: typer.Context, checkpoint: CheckpointFile = None, json_out: JsonFlag = False) -> None:
    """Recompute the hash chain, check each entry's MAC and the checkpoints, replay every rollout; exit 1 on
    any tampering (a checkpoint catches a truncated tail or a rebuilt chain)."""
    from trilho.rollout.checkpoints import read_checkpoints

    report = _service(ctx).verify_audit(read_checkpoints(checkpoint) if checkpoint else ())
    if not report.ok:
        raise CheckFailed(
            f"the audit log failed verification: {len(report.problems)} problem(s), first: "
            f"{report.problems[0]}",
            fix="restore the store from a backup and investigate who wrote to it",
            problems=report.problems,
            entries=report.entries,
        )
    emit(
        report.to_dict(),
        json_out,
        lambda c: c.print(
            f"[green]ok[/] {report.entries} entries ({report.keyed} keyed, {report.legacy} legacy), "
            f"{report.rollouts} rollouts replayed, {report.checkpoints} checkpoints matched"
        ),
    )


@audit_app.command("checkpoint")
@handles_errors
def checkpoint_cmd(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            envvar=AUDIT_CHECKPOINT_ENV,
            help="Append the checkpoint to this JSON-lines file (else print it only).",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Sign (seq, head hash) of the audit log and print it (and append it to --out) for `audit verify`."""
    from trilho.rollout.checkpoints import append_checkpoint

    cp = _service(ctx).audit_checkpoint()
    if out is not None:
        append_checkpoint(out, cp)
    where = f" (appended to {out})" if out is not None else ""
    emit(cp, json_out, lambda c: c.print(f"checkpoint seq {cp['seq']} head {cp['hash'][:16]}…{where}"))


@plan_app.command("save")
@handles_errors
def plan_save(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Plan name (use it as --plan NAME).")],
    file: Annotated[str, typer.Argument(help="Plan YAML file.")],
    actor: Actor = None,
    json_out: JsonFlag = False,
) -> None:
    """Validate and save a named plan."""
    plan = _service(ctx).save_plan(name, file, actor=_actor(actor))
    emit({"name": name, "plan": plan.redacted()}, json_out, lambda c: c.print(f"saved plan {name!r}"))


@plan_app.command("list")
@handles_errors
def plan_list(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """The named plans."""
    plans = {n: p.redacted() for n, p in _service(ctx).plans().items()}

    def render(c: Console) -> None:
        for n, p in plans.items():
            steps = " → ".join(
                f"shadow {s['shadow']['percent']:g}%" if "shadow" in s else f"{s['canary']['weight']:g}%"
                for s in p["steps"]
            )
            c.print(f"{n}: {steps}")

    emit(plans, json_out, render)


@token_app.command("create")
@handles_errors
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Token name (who uses it).")],
    role: Annotated[str, typer.Option("--role", help="annotator, viewer, deployer or admin.")] = "viewer",
    actor: Actor = None,
    json_out: JsonFlag = False,
) -> None:
    """Create a control-API token; the secret is shown once and stored only as a hash."""
    from trilho.rollout.auth import create_token

    secret = create_token(open_store(ctx), name, role, actor=_actor(actor))
    emit(
        {"name": name, "role": role, "token": secret},
        json_out,
        lambda c: c.print(f"token for {name} ({role}): {secret}\nstore it now; it is not shown again"),
    )


@token_app.command("list")
@handles_errors
def token_list(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Every control-API token: name, role, created by/at, revoked (secrets are never stored)."""
    from trilho.rollout.auth import list_tokens

    rows = list_tokens(open_store(ctx))

    def render(c: Console) -> None:
        t = Table("name", "role", "created", "by", "status")
        for r in rows:
            t.add_row(
                r["name"], r["role"], r["created_at"][:19], r["created_by"],
                "[red]revoked[/]" if r["revoked"] else "active",
            )  # fmt: skip
        c.print(t if rows else "no tokens (create one: trilho rollout token create NAME --role admin)")

    emit(rows, json_out, render)


@token_app.command("revoke")
@handles_errors
def token_revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Token name (see `trilho rollout token list`).")],
    actor: Actor = None,
    json_out: JsonFlag = False,
) -> None:
    """Revoke a token now: the control API and the dashboard refuse it from the next request on (audited)."""
    from trilho.errors import InputError
    from trilho.rollout.auth import list_tokens, revoke_token

    store = open_store(ctx)
    if not revoke_token(store, name, actor=_actor(actor)):
        known = {r["name"]: r["revoked"] for r in list_tokens(store)}
        raise InputError(
            f"token {name!r} is already revoked" if known.get(name) else f"no token is named {name!r}",
            fix="see the names with `trilho rollout token list`",
            field="name",
            value=name,
        )
    emit({"name": name, "revoked": True}, json_out, lambda c: c.print(f"token {name!r} revoked"))


@app.command("api")
@handles_errors
@server_logs
def api(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8090,
) -> None:
    """Serve the control API (token auth; create the first admin token with `trilho rollout token create`)."""
    from trilho.rollout.api import serve_api

    serve_api(open_store(ctx), host=host, port=port)


@handles_errors
@server_logs
def controller(
    ctx: typer.Context,
    interval: Annotated[
        float | None,
        typer.Option("--interval", min=1.0, help="Analysis interval in seconds (default: each plan's)."),
    ] = None,
    seconds: Annotated[float | None, typer.Option("--seconds", help="Stop after this long.")] = None,
    iterations: Annotated[int | None, typer.Option("--iterations", help="Stop after N ticks.")] = None,
    gateway: Annotated[
        list[str] | None,
        typer.Option(
            "--gateway",
            help="Gateway base URL whose applied routing generation times rollbacks (repeatable).",
        ),
    ] = None,
    tick: Annotated[float, typer.Option("--tick", min=0.05, help="Seconds between ticks.")] = 1.0,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve Prometheus /metrics on this port.")
    ] = None,
    audit_checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--audit-checkpoint",
            envvar=AUDIT_CHECKPOINT_ENV,
            help="Also append a signed audit checkpoint here whenever the log grew (always: the log stream).",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Run the rollout controller loop (one controller acts at a time)."""
    from trilho.rollout.controller import Controller

    if metrics_port is not None:
        from prometheus_client import start_http_server

        from trilho.obs import REGISTRY

        start_http_server(metrics_port, addr="127.0.0.1", registry=REGISTRY)

    ctl = Controller(
        open_store(ctx),
        interval=interval,
        gateways=gateway or (),
        checkpoint_file=audit_checkpoint,
        exposures=settings(ctx).home / "exposures",
    )
    try:
        report = ctl.run(seconds=seconds, iterations=iterations, tick_every=min(tick, interval or tick))
    except KeyboardInterrupt:
        report = None
    finally:
        ctl.close()
    if report is not None:
        emit(
            report.to_dict(),
            json_out,
            lambda c: c.print(f"{report.iterations} ticks, {len(report.timeline)} events"),
        )
