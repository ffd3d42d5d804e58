"""BG/NBD and Gamma-Gamma against the published CDNOW estimates (the `lifetimes` package ships
the data; only its files are read)."""

from __future__ import annotations

import csv
import importlib.util
from datetime import date
from pathlib import Path

import pytest

from nudgeloop.domain.clv import Summary, expected_purchases, expected_value, fit_bgnbd, fit_gamma_gamma, p_alive, summarise


@pytest.fixture(scope="module")
def cdnow() -> list[Summary]:
    spec = importlib.util.find_spec("lifetimes")
    assert spec is not None and spec.submodule_search_locations, "the lifetimes package (test oracle) is missing"
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "cdnow_customers_summary_with_transactions.csv"
    with path.open() as f:
        return [Summary(r["ID"], int(r["x"]), float(r["t_x"]), float(r["T"]), float(r["zbar"])) for r in csv.DictReader(f)]


def test_bgnbd_fit_matches_fader_hardie_lee_2005(cdnow: list[Summary]) -> None:
    model = fit_bgnbd(cdnow)
    assert len(cdnow) == 2357
    # Published: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 (weekly data)
    assert model.r == pytest.approx(0.243, abs=0.001)
    assert model.alpha == pytest.approx(4.414, abs=0.002)
    assert model.a == pytest.approx(0.793, abs=0.001)
    assert model.b == pytest.approx(2.426, abs=0.002)
    # The paper's worked example: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in 39 weeks.
    assert expected_purchases(model, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.001)
    assert p_alive(model, 0, 0, 38.86) == 1.0
    assert 0 < p_alive(model, 2, 30.43, 38.86) < p_alive(model, 2, 38.0, 38.86) < 1


def test_gamma_gamma_fit_matches_fader_hardie_2013(cdnow: list[Summary]) -> None:
    model = fit_gamma_gamma(cdnow)
    # Published: p = 6.25, q = 3.74, gamma = 15.44
    assert model.p == pytest.approx(6.25, abs=0.01)
    assert model.q == pytest.approx(3.74, abs=0.01)
    assert model.v == pytest.approx(15.44, abs=0.02)
    population_mean = model.p * model.v / (model.q - 1)
    assert expected_value(model, 0, 0) == pytest.approx(population_mean)
    # one repeat purchase is shrunk towards the population mean more than ten are
    assert abs(expected_value(model, 1, 100.0) - 100) > abs(expected_value(model, 10, 100.0) - 100)


def test_summary_from_orders_in_days_and_weeks() -> None:
    orders = [
        (date(2026, 1, 1), 10.0),
        (date(2026, 1, 1), 5.0),
        (date(2026, 1, 15), 20.0),
        (date(2026, 2, 12), 40.0),
        (date(2026, 3, 1), 99.0),
    ]
    days = summarise("c", orders, date(2026, 2, 26))
    assert days == Summary("c", x=2, t_x=42.0, T=56.0, m=30.0)
    weeks = summarise("c", orders, date(2026, 2, 26), unit_days=7)
    assert weeks is not None and (weeks.t_x, weeks.T) == (6.0, 8.0)
    assert summarise("c", orders, date(2025, 12, 31)) is None


# The demo shop's order log at one weekly fit (x, t_x, T, m in days): repeat customers who all
# spend about alike, so the Gamma-Gamma likelihood rises towards infinite shape parameters.
DEMO_SHOP = [
    (3, 142, 145, 56.7), (0, 0, 203, 0), (0, 0, 19, 0), (1, 1, 18, 29.0), (2, 111, 132, 39.7), (1, 70, 150, 38.8),
    (1, 4, 20, 28.0), (2, 50, 68, 47.35), (0, 0, 2, 0), (3, 62, 199, 35.0), (6, 164, 166, 52.68), (2, 6, 8, 61.55),
    (4, 205, 210, 39.48), (1, 124, 223, 25.3), (4, 183, 189, 54.15), (4, 95, 118, 40.72), (0, 0, 7, 0), (0, 0, 12, 0),
    (0, 0, 7, 0), (3, 105, 106, 47.97), (0, 0, 205, 0), (2, 142, 154, 11.25), (5, 181, 183, 36.46), (0, 0, 150, 0),
    (6, 206, 210, 51.93), (0, 0, 15, 0), (0, 0, 1, 0), (2, 14, 22, 21.5),
]  # fmt: skip


def test_a_shop_without_spend_heterogeneity_fits_quietly_with_sane_means() -> None:
    import warnings

    summaries = [Summary(f"c{i}", x, float(t_x), float(T), float(m)) for i, (x, t_x, T, m) in enumerate(DEMO_SHOP)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow in the search is handled, not printed
        model = fit_gamma_gamma(summaries)
        bgnbd = fit_bgnbd(summaries)
        one_time = expected_value(model, 0, 0.0)
        values = [expected_value(model, s.x, s.m) for s in summaries]
        purchases = [expected_purchases(bgnbd, 90, s.x, s.t_x, s.T) for s in summaries]
    repeat_spend = [s.m for s in summaries if s.x > 0]
    mean = sum(repeat_spend) / len(repeat_spend)
    # the population mean a one-time buyer gets follows the data (unbounded it was about 3e11)
    assert 0.75 * mean < one_time < 1.25 * mean
    assert all(min(repeat_spend) * 0.5 < v < max(repeat_spend) * 1.5 for v in values)
    assert all(0 <= p < 10 for p in purchases)
