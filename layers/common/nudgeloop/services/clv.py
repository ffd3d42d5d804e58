"""The CLV job: fit BG/NBD + Gamma-Gamma on the order log, store per-customer values."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from nudgeloop import clock
from nudgeloop.dal import event_log, insights
from nudgeloop.domain import clv

UNITS = {"days": 1, "weeks": 7}


class NotEnoughData(ValueError):
    """Too few customers with repeat purchases for a maximum-likelihood fit."""


HORIZON_DAYS = 90
YEAR_DAYS = 365


def fit(until: date, unit: str = "days", store: bool = True) -> dict[str, Any]:
    """Fit on every customer's counted orders up to ``until``; optionally store per-customer values.

    Recency and customer age are calendar days (``weeks`` divides them by 7).
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {sorted(UNITS)}")
    per = UNITS[unit]
    summaries = []
    for customer_id, orders in event_log.orders_by_customer():
        summary = clv.summarise(
            customer_id, [(o.occurred_at.date(), float(o.total)) for o in orders if not o.refunded], until, per
        )
        if summary is not None:
            summaries.append(summary)
    if len(summaries) < 3 or not any(s.x > 0 for s in summaries):
        raise NotEnoughData("too few customers with repeat purchases to fit a model")
    bgnbd = clv.fit_bgnbd(summaries)
    gamma_gamma = clv.fit_gamma_gamma(summaries)
    params = {"bgnbd": asdict(bgnbd), "gamma_gamma": asdict(gamma_gamma), "customers": len(summaries)}
    if store:
        values = {
            s.customer_id: {
                "expected_purchases_90d": round(clv.expected_purchases(bgnbd, HORIZON_DAYS / per, s.x, s.t_x, s.T), 4),
                "p_alive": round(clv.p_alive(bgnbd, s.x, s.t_x, s.T), 4),
                "expected_value_12m": round(
                    clv.expected_purchases(bgnbd, YEAR_DAYS / per, s.x, s.t_x, s.T) * clv.expected_value(gamma_gamma, s.x, s.m), 2
                ),
                "until": until.isoformat(),
            }
            for s in summaries
        }
        insights.save_clv(values, {**params, "until": until.isoformat(), "unit": unit, "fitted_at": clock.iso(clock.now())})
    return params
