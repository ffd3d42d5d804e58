"""The daily analytics job: attribution, holdout comparison and the export for BI tools."""

from __future__ import annotations

from constructs import Construct

from .data import Data
from .functions import FunctionFactory


class Analytics(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: FunctionFactory, data: Data) -> None:
        super().__init__(scope, construct_id)
        self.function = functions.function("analytics")  # its permissions: nudgeloop.grants.GRANTS
