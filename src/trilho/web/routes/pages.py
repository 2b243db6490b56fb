"""The read-only pages: models, rollouts (with the buttons the role and phase allow), SLOs, evals and
experiments; each reads through :mod:`trilho.web.data`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from trilho.rollout.auth import Principal
from trilho.web import data
from trilho.web.context import Ui
from trilho.web.routes.actions import ACTIONS, allowed_actions


def routes(ui: Ui) -> list[Route]:
    """Every page route (GET, signed in)."""
    render, reports, poll = ui.render, ui.reports, ui.poll_seconds

    def home(request: Request) -> Response:
        return RedirectResponse("/ui/rollouts", 303)

    def models(request: Request) -> Response:
        return render(request, "models.html", nav="models", models=data.models_overview(ui.registry))

    def model(request: Request) -> Response:
        d = data.model_detail(ui.registry, ui.store, request.path_params["name"])
        return render(request, "model.html", nav="models", **d)

    def rollouts(request: Request) -> Response:
        d = data.rollouts_overview(ui.service)
        return render(request, "rollouts.html", nav="rollouts", poll=poll, **d)

    def rollout(request: Request) -> Response:
        d = data.rollout_detail(ui.service, request.path_params["model"])
        p: Principal = request.state.principal
        return render(
            request,
            "rollout.html",
            nav="rollouts",
            poll=poll,
            can_act=p.allows("deployer"),
            allowed=allowed_actions(d["rollout_obj"], d["kill"]),
            actions=ACTIONS,
            message=request.query_params.get("done"),
            **d,
        )

    def slos(request: Request) -> Response:
        return render(request, "slos.html", nav="slos", poll=poll, models=data.slos_overview(ui.store))

    def evals(request: Request) -> Response:
        return render(request, "evals.html", nav="evals", **data.evals_overview(ui.store))

    def experiments(request: Request) -> Response:
        found = data.experiments(reports)
        return render(request, "experiments.html", nav="experiments", experiments=found, reports=reports)

    def experiment(request: Request) -> Response:
        e = data.experiment(reports, request.path_params["exp"])
        return render(request, "experiment.html", nav="experiments", e=e)

    def experiment_report(request: Request) -> Response:
        path = data.report_html_path(reports, request.path_params["exp"])
        return FileResponse(path, media_type="text/html")

    page = ui.page
    return [
        Route("/", page(home)),
        Route("/models", page(models)),
        Route("/models/{name}", page(model)),
        Route("/rollouts", page(rollouts)),
        Route("/rollouts/{model}", page(rollout)),
        Route("/slos", page(slos)),
        Route("/evals", page(evals)),
        Route("/experiments", page(experiments)),
        Route("/experiments/{exp:path}/report.html", page(experiment_report)),
        Route("/experiments/{exp:path}", page(experiment)),
    ]
