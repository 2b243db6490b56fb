"""Synthetic control weights: classic (Abadie, nested predictor weights V), de-meaned and ridge-augmented.

Pure numpy on arrays; :mod:`trilho.measure.geo` maps a panel onto these arrays. Notation: ``Z`` are
pre-period outcomes (T0 × units), ``X`` are predictors (k × units); suffix 1 = treated, 0 = donors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import minimize

from trilho.errors import MeasurementError
from trilho.measure.qp import simplex_weights

Method = Literal["classic", "demeaned", "ridge"]


@dataclass(frozen=True)
class WeightFit:
    """Donor weights (simplex, plus the augmented ridge correction) and predictor weights V."""

    weights: np.ndarray  # simplex weights
    v: np.ndarray | None
    augmented: np.ndarray | None = None  # simplex weights + ridge adjustment (may be negative)
    ridge_lambda: float | None = None

    @property
    def effective(self) -> np.ndarray:
        """The weights that build the counterfactual."""
        return self.weights if self.augmented is None else self.augmented


def _loss(Z1: np.ndarray, Z0: np.ndarray, w: np.ndarray) -> float:
    r = Z1 - Z0 @ w
    return float(r @ r) / len(r)


VSearch = Literal["global", "synth"]


def nested_v_weights(
    X1: np.ndarray,
    X0: np.ndarray,
    Z1: np.ndarray,
    Z0: np.ndarray,
    *,
    search: VSearch = "global",
    budget: int = 80,
    refine: int = 300,
) -> WeightFit:
    """Abadie's nested optimisation: V (diagonal, on the simplex) minimises the pre-period outcome MSPE of the
    weights that best match the standardised predictors under V.

    V is not identified, so the answer depends on the search. ``global`` (default) is multi-start (uniform V
    and V concentrated on each predictor), a short Nelder–Mead run from each start and a long one from the
    best. ``synth`` follows R Synth's path — Nelder–Mead and BFGS from uniform V, keep the lower loss — and
    reproduces weights published with that package even where a better V exists.
    """
    k = X0.shape[0]
    sd = predictor_sd(X1, X0)
    X1s, X0s = X1 / sd, X0 / sd[:, None]
    last = {"w": None}

    def weights(p: np.ndarray) -> np.ndarray:
        v = p * p + 1e-12
        w = simplex_weights(X0s, X1s, v / v.sum(), w0=last["w"])
        last["w"] = w
        return w

    def loss(p: np.ndarray) -> float:
        return _loss(Z1, Z0, weights(p))

    if k == 1:
        w = weights(np.ones(1))
        return WeightFit(w, np.ones(1))
    if search == "synth":

        def loss_abs(p: np.ndarray) -> float:
            return loss(np.sqrt(np.abs(p)))

        cands = []
        for meth in ("Nelder-Mead", "BFGS"):
            r = minimize(loss_abs, np.ones(k) / k, method=meth, options={"maxiter": 5000})
            cands.append((float(r.fun), np.sqrt(np.abs(r.x))))
        best = min(cands, key=lambda t: t[0])[1]
        last["w"] = None
        v = best * best + 1e-12
        v = v / v.sum()
        return WeightFit(simplex_weights(X0s, X1s, v), v / sd**2 / np.sum(v / sd**2))
    starts = [np.ones(k)] + [np.sqrt(0.9 * np.eye(k)[i] + 0.1 / k) for i in range(k)]
    runs = []
    for x0 in starts:
        r = minimize(
            loss, x0, method="Nelder-Mead", options={"maxfev": budget, "xatol": 1e-6, "fatol": 1e-10}
        )
        runs.append((r.fun, r.x))
    runs.sort(key=lambda t: t[0])
    best_f, best = runs[0]
    for _ in range(4):  # restarted Nelder-Mead: a fresh simplex escapes premature convergence
        r = minimize(
            loss, best, method="Nelder-Mead", options={"maxfev": refine, "xatol": 1e-9, "fatol": 1e-13}
        )
        if r.fun >= best_f - 1e-9 * abs(best_f):
            break
        best_f, best = r.fun, r.x
    last["w"] = None
    v = best * best + 1e-12
    v = v / v.sum()
    return WeightFit(simplex_weights(X0s, X1s, v), v / sd**2 / np.sum(v / sd**2))


def predictor_sd(X1: np.ndarray, X0: np.ndarray) -> np.ndarray:
    """Each predictor's standard deviation over the treated and donor units (1 where constant)."""
    sd = np.concatenate([X0, X1[:, None]], axis=1).std(axis=1, ddof=1)
    sd[sd == 0] = 1.0
    return sd


def raw_v(X1: np.ndarray, X0: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Predictor weights given on standardised predictors (R Synth's ``custom.v``) on the raw scale, summing
    to one — the form :func:`nested_v_weights` returns and :func:`fit_weights` takes."""
    if np.any(v < 0) or not np.any(v > 0):
        raise MeasurementError(
            "predictor weights V must be non-negative and not all zero",
            fix="give one weight >= 0 per predictor",
            field="v",
            value=", ".join(f"{x:g}" for x in v),
        )
    w = v / predictor_sd(X1, X0) ** 2
    return w / w.sum()


def demean(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns minus their mean over the rows (the pre-period); returns (centred, means)."""
    mu = Z.mean(axis=0)
    return Z - mu, mu


def center_periods(Z1: np.ndarray, Z0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both series minus the donors' cross-sectional mean in each period (augsynth centres the ridge's
    design this way; simplex-weighted gaps are unchanged, the ridge penalty is not)."""
    mu = Z0.mean(axis=1)
    return Z1 - mu, Z0 - mu[:, None]


def ridge_adjustment(Z1: np.ndarray, Z0: np.ndarray, w: np.ndarray, lam: float) -> np.ndarray:
    """Augmented-SCM (Ben-Michael, Feller & Rothstein 2021) ridge correction added to the simplex weights."""
    Z1, Z0 = center_periods(Z1, Z0)
    T0 = Z0.shape[0]
    gap = Z1 - Z0 @ w  # (T0,)
    M = Z0 @ Z0.T + lam * np.eye(T0)  # (T0, T0)
    return gap @ np.linalg.solve(M, Z0)  # (J,)


def ridge_lambda_cv(
    Z1: np.ndarray, Z0: np.ndarray, *, n_lambda: int = 20, min_ratio: float = 1e-8, min_1se: bool = True
) -> float:
    """Choose the ridge penalty as augsynth's ``cv_lambda`` does: on period-centred data, hold out each
    pre-period but the last in turn, refit the simplex weights on the rest, predict the held-out period for
    the treated series; take the largest penalty within one standard error of the best (``min_1se``) on the
    grid ``lambda_max * min_ratio ** (i / n_lambda)``, ``lambda_max`` the top squared singular value.
    """
    Z1, Z0 = center_periods(Z1, Z0)
    T0, J = Z0.shape
    lam_max = float(np.linalg.svd(Z0, compute_uv=False)[0] ** 2)
    grid = lam_max * min_ratio ** (np.arange(n_lambda + 1) / n_lambda)
    folds = T0 - 1  # augsynth: for (i in 1:(ncol(X_c) - holdout_length)), holdout_length = 1
    errors = np.zeros((folds, len(grid)))
    w = None
    for i in range(folds):
        keep = np.arange(T0) != i
        A, a = Z0[keep], Z1[keep]
        w = simplex_weights(A, a, w0=w)
        gap = a - A @ w
        # (A A' + lam I)^{-1} via the eigen-decomposition of A A', shared by every lambda
        evals, evecs = np.linalg.eigh(A @ A.T)
        proj_gap = evecs.T @ gap
        proj_A = evecs.T @ A  # (T0-1, J)
        for k, lam in enumerate(grid):
            ridge = (proj_gap / (evals + lam)) @ proj_A
            err = Z1[i] - Z0[i] @ (w + ridge)
            errors[i, k] = err * err
    mean = errors.mean(axis=0)
    se = errors.std(axis=0, ddof=1) / np.sqrt(folds)
    best = int(np.argmin(mean))
    if not min_1se:
        return float(grid[best])
    return float(np.max(grid[mean <= mean[best] + se[best]]))


def fit_weights(
    Z1: np.ndarray,
    Z0: np.ndarray,
    *,
    X1: np.ndarray | None = None,
    X0: np.ndarray | None = None,
    method: Method = "classic",
    ridge_lambda: float | None = None,
    v: np.ndarray | None = None,
    v_search: VSearch = "global",
    w0: np.ndarray | None = None,
) -> WeightFit:
    """Donor weights for one (possibly aggregated) treated series (``w0``: a warm start for the simplex QP).

    ``classic`` matches predictors ``X`` under nested V (or the pre-period outcomes, V = I, when no
    predictors are given); ``demeaned`` matches unit-de-meaned pre-period outcomes (fixed effects, as
    GeoLift/augsynth ``fixedeff``); ``ridge`` adds the augmented-SCM ridge correction to the de-meaned fit.
    """
    if Z0.shape[1] == 0:
        raise MeasurementError(
            "there are no donor units left", fix="keep at least two untreated units", field="donors"
        )
    if method in ("demeaned", "ridge"):
        z1, _ = demean(Z1[:, None])
        z0, _ = demean(Z0)
        if method == "demeaned":
            return WeightFit(simplex_weights(z0, z1[:, 0], w0=w0), None)
        # augsynth fits the simplex weights and the ridge on period-centred data (same optimum, and the
        # numerically identical problem: the ridge correction magnifies solver-level differences)
        c1, c0 = center_periods(z1[:, 0], z0)
        w = simplex_weights(c0, c1, w0=w0)
        lam = ridge_lambda if ridge_lambda is not None else ridge_lambda_cv(c1, c0)
        return WeightFit(w, None, w + ridge_adjustment(c1, c0, w, lam), lam)
    if X0 is None or X1 is None:
        return WeightFit(simplex_weights(Z0, Z1, v, w0=w0), v)
    if v is not None:
        return WeightFit(simplex_weights(X0, X1, v), v)
    return nested_v_weights(X1, X0, Z1, Z0, search=v_search)


def counterfactual(
    y1: np.ndarray, Y0: np.ndarray, fit: WeightFit, pre: np.ndarray, method: Method
) -> np.ndarray:
    """The synthetic series over all times; de-meaned variants add back the treated unit's pre-period mean."""
    w = fit.effective
    if method == "classic":
        return Y0 @ w
    mu1 = y1[pre].mean()
    mu0 = Y0[pre].mean(axis=0)
    return mu1 + (Y0 - mu0) @ w
