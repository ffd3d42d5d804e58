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
