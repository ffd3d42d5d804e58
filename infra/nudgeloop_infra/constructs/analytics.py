"""The daily analytics job: attribution, holdout comparison and the export for BI tools."""

from __future__ import annotations

from constructs import Construct

from nudgeloop.resources import ANALYTICS_PREFIX, ARCHIVE_PREFIX

from .data import Data
from .functions import FunctionFactory


class Analytics(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: FunctionFactory, data: Data) -> None:
        super().__init__(scope, construct_id)
        fn = functions.function("analytics")
        data.tables["customers"].grant_read_data(fn)
        data.tables["events"].grant_read_data(fn)  # clicks and orders of the customers it attributes
        data.tables["engine"].grant_read_write_data(fn)  # ledger reads; conversions and counters
        data.buckets["campaigns"].grant_read(fn)
        data.buckets["data"].grant_read(fn, f"{ARCHIVE_PREFIX}*")
        data.buckets["data"].grant_put(fn, f"{ANALYTICS_PREFIX}*")
        self.function = fn
