"""Act 1 — contracts and golden tests: a churn model is trained, contracted, registered and golden-tested;
a v2 whose contract breaks v1's callers is refused with the rule that fired."""

from __future__ import annotations

from trilho import golden
from trilho.demo.runner import ActResult, DemoContext
from trilho.demo.tabular import train_churn_model, write_churn_contract, write_churn_suite
from trilho.errors import BreakingChange
from trilho.registry import Registry


def act(ctx: DemoContext) -> ActResult:
    """Run act 1 and report what it saw."""
    work = ctx.workdir / "churn"
    registry = Registry(ctx.store, ctx.settings.artifacts_url)
    with ctx.console.status("training the churn model on generated data"):
        artifact, data = train_churn_model(work)
    contract_v1 = write_churn_contract(work / "contract_v1.yaml")
    v1 = registry.register(
        "churn", artifact, "sklearn", contract_v1, data_paths=[data], params={"model": "logistic_regression"}
    )
    registry.set_alias("churn", "champion", v1.version)
    ctx.console.print(f"registered [bold]{v1.ref}[/] ({v1.artifact_sha256[:19]}…) as champion")

    suite = write_churn_suite(work)
    run = golden.run(registry, suite, "churn@champion")
    ctx.console.print(f"golden suite: {len(run.results) - len(run.failed)}/{len(run.results)} cases passed")

    contract_v2 = write_churn_contract(work / "contract_v2.yaml", version="2.0.0", with_region=True)
    refused_rule = None
    try:
        registry.register("churn", artifact, "sklearn", contract_v2, data_paths=[data])
    except BreakingChange as exc:
        refused_rule = exc.fields.get("rule")
        ctx.console.print(f"v2 refused: [red]{exc.message}[/]")
    versions = [v.version for v in registry.versions("churn")]
    ok = run.passed and refused_rule is not None and versions == [1]
    ctx.shared["registry"] = registry
    return ActResult(
        title="churn v1 registered and golden-tested; a breaking v2 contract refused",
        ok=ok,
        figures=[
            ("golden cases passed", f"{len(run.results) - len(run.failed)}/{len(run.results)}"),
            ("breaking rule fired", str(refused_rule)),
            ("versions in registry", ", ".join(map(str, versions))),
        ],
    )
