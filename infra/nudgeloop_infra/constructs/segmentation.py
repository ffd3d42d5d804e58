"""The event bus and the scheduled re-segmentation."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

from nudgeloop.resources import Catalog

from .data import Data
from .functions import FunctionFactory


class Segmentation(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, catalog: Catalog, functions: FunctionFactory, data: Data) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=catalog.bus_name)
        fn = functions.function("segment_daily")
        data.tables["customers"].grant_read_write_data(fn)
        data.tables["events"].grant_read_write_data(fn)
        data.tables["engine"].grant_read_write_data(fn)
        data.buckets["campaigns"].grant_read(fn)
        self.bus.grant_put_events_to(fn)
        own_arn = cdk.Stack.of(self).format_arn(
            service="lambda",
            resource="function",
            resource_name=catalog.function("segment_daily").name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        # It fans a full re-placement out to itself (a named ARN, so no dependency cycle).
        fn.add_to_role_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[own_arn]))
        self.function = fn
        # Customers per step and daily flows, tallied from the customers table's stream.
        counts_fn = functions.function("segment_counts")
        functions.stream_source("segment_counts")
        data.tables["engine"].grant_read_write_data(counts_fn)
        recommend_fn = functions.function("recommend")
        data.tables["events"].grant_read_data(recommend_fn)
        data.tables["recs"].grant_read_write_data(recommend_fn)
        data.buckets["campaigns"].grant_read(recommend_fn)
        clv_fn = functions.function("clv")
        data.tables["events"].grant_read_data(clv_fn)
        data.tables["recs"].grant_read_write_data(clv_fn)
