"""The event bus and the scheduled re-segmentation."""

from __future__ import annotations

from aws_cdk import aws_events as events
from constructs import Construct

from nudgeloop.specs import Catalog

from .data import Data
from .functions import FunctionFactory


class Segmentation(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, catalog: Catalog, functions: FunctionFactory, data: Data) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=catalog.bus_name)
        # Each function's permissions come from the catalog (nudgeloop.grants.GRANTS).
        self.function = functions.function("segment_daily")
        # Customers per step and daily flows, tallied from the customers table's stream.
        functions.function("segment_counts")
        functions.stream_source("segment_counts")
        functions.function("recommend")
        functions.function("clv")
