"""Customer lifetime value: BG/NBD (purchase frequency and survival) and Gamma-Gamma (order
value), fitted by maximum likelihood on the customer base.

Fader, Hardie & Lee (2005), "Counting your customers the easy way"; Fader & Hardie (2013),
"The Gamma-Gamma model of monetary value". Needs numpy and scipy, which ship in the scientific
layer of the CLV function only (the hot-path functions never import this module).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Summary:
    """Per customer: repeat purchases ``x``, age at last purchase ``t_x``, age ``T``, mean repeat value ``m``."""

    customer_id: str
    x: int
    t_x: float
    T: float
    m: float


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float


def summarise(customer_id: str, purchases: Iterable[tuple[date, float]], until: date, unit_days: int = 1) -> Summary | None:
    """RFM summary from (UTC date, value) of counted orders up to ``until``; purchases on the
    same day count as one transaction (as in the papers). None when nothing was bought by then."""
    by_day: dict[date, float] = {}
    for day, value in purchases:
        if day <= until:
            by_day[day] = by_day.get(day, 0.0) + value
    if not by_day:
        return None
    days = sorted(by_day)
    first, last = days[0], days[-1]
    repeat_values = [by_day[d] for d in days[1:]]
    return Summary(
        customer_id=customer_id,
        x=len(days) - 1,
        t_x=(last - first).days / unit_days,
        T=(until - first).days / unit_days,
        m=float(np.mean(repeat_values)) if repeat_values else 0.0,
    )


def _bgnbd_ll(params: Array, x: Array, t_x: Array, T: Array) -> Array:
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf)
    result: Array = a1 + a2 + np.logaddexp(a3, a4)
    return result


# What the optimiser sees where the likelihood cannot be computed (parameters so large that
# they overflow): a finite wall, so it turns back without numpy warnings or inf - inf steps.
UNREACHABLE = 1e300
# Parameters are searched within [1e-8, 1e8]. Where the data show no heterogeneity (a shop
# whose repeat customers all spend alike) the likelihood keeps rising towards infinite shape
# parameters; unbounded, the search ends where floating point loses the ridge (p ~ 1e304)
# and the population mean it implies is nonsense. At 1e8 the model is as homogeneous as makes
# no difference, and its means still follow the data.
LOG_BOUNDS = (np.log(1e-8), np.log(1e8))


def _fit(negative_ll: Any, start: Array) -> Array:
    """Maximise the likelihood over log-parameters (keeps them positive), within LOG_BOUNDS."""

    def objective(log_params: Array) -> float:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            value = float(negative_ll(np.exp(log_params)))
        return value if np.isfinite(value) else UNREACHABLE

    bounds = [LOG_BOUNDS] * len(start)
    best = optimize.minimize(
        objective,
        np.log(start),
        method="Nelder-Mead",
        bounds=bounds,
        options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 4000, "maxfev": 4000},
    )
    refined = optimize.minimize(objective, best.x, method="L-BFGS-B", bounds=bounds)
    chosen = refined.x if refined.fun <= best.fun else best.x
    return np.asarray(np.exp(chosen), dtype=np.float64)


def fit_bgnbd(summaries: list[Summary]) -> BgNbd:
    x = np.array([s.x for s in summaries], dtype=np.float64)
    t_x = np.array([s.t_x for s in summaries], dtype=np.float64)
    T = np.array([s.T for s in summaries], dtype=np.float64)
    r, alpha, a, b = _fit(lambda p: -float(np.sum(_bgnbd_ll(p, x, t_x, T))), np.array([1.0, 1.0, 1.0, 1.0]))
    return BgNbd(float(r), float(alpha), float(a), float(b))


def fit_gamma_gamma(summaries: list[Summary]) -> GammaGamma:
    """Fitted on repeat customers only (x > 0, mean repeat value m > 0)."""
    repeat = [s for s in summaries if s.x > 0 and s.m > 0]
    x = np.array([s.x for s in repeat], dtype=np.float64)
    m = np.array([s.m for s in repeat], dtype=np.float64)

    def negative_ll(params: Array) -> float:
        p, q, v = params
        ll = (
            special.gammaln(p * x + q)
            - special.gammaln(p * x)
            - special.gammaln(q)
            + q * np.log(v)
            + (p * x - 1) * np.log(m)
            + (p * x) * np.log(x)
            - (p * x + q) * np.log(x * m + v)
        )
        return -float(np.sum(ll))

    p, q, v = _fit(negative_ll, np.array([1.0, 1.0, 1.0]))
    return GammaGamma(float(p), float(q), float(v))


def p_alive(model: BgNbd, x: float, t_x: float, T: float) -> float:
    if x == 0:
        return 1.0
    ratio = model.a / (model.b + x - 1) * ((model.alpha + T) / (model.alpha + t_x)) ** (model.r + x)
    return float(1.0 / (1.0 + ratio))


def expected_purchases(model: BgNbd, t: float, x: float, t_x: float, T: float) -> float:
    """E[purchases in the next ``t`` units | x, t_x, T] (BG/NBD, equation 10)."""
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    first = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    second = 1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return float(first / second)


def expected_value(model: GammaGamma, x: float, m: float) -> float:
    """E[mean transaction value | x, m]; the population mean for customers without repeats."""
    p, q, v = model.p, model.q, model.v
    if x == 0 or m <= 0:
        return p * v / (q - 1) if q > 1 else 0.0
    return (p * (v + x * m)) / (p * x + q - 1)
