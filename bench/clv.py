"""CLV fit timings on CDNOW (the data the `lifetimes` test oracle ships). Prints its figures.

.venv/bin/python bench/clv.py
"""

from __future__ import annotations

import csv
import importlib.util
import time
from pathlib import Path

from nudgeloop.domain.clv import Summary, fit_bgnbd, fit_gamma_gamma


def main() -> None:
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the lifetimes package (test oracle) is missing: make dev installs it")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "cdnow_customers_summary_with_transactions.csv"
    with path.open() as f:
        data = [Summary(r["ID"], int(r["x"]), float(r["t_x"]), float(r["T"]), float(r["zbar"])) for r in csv.DictReader(f)]
    began = time.perf_counter()
    bgnbd = fit_bgnbd(data)
    middle = time.perf_counter()
    gamma_gamma = fit_gamma_gamma(data)
    end = time.perf_counter()
    repeat = sum(1 for s in data if s.x > 0)
    print(f"BG/NBD fit, {len(data):,} customers: {middle - began:.2f} s -> {bgnbd}")
    print(f"Gamma-Gamma fit, {repeat:,} repeat customers: {end - middle:.2f} s -> {gamma_gamma}")


if __name__ == "__main__":
    main()
