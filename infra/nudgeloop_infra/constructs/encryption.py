"""Customer-managed encryption (optional, context ``kms=true``; docs/privacy.md, "Encryption").

One KMS key of the stack's own encrypts the tables (and their streams), the buckets (with S3
Bucket Keys, so that S3 asks KMS once per bucket and key period, not once per object), the
queues that carry customer data and Athena's results. The roles that read or write them are
granted the key by ``FunctionFactory`` (``USE``); CDK adds to the key's policy the services that
write into the queues themselves (EventBridge rules' targets). Without this construct the stores
use AWS-managed encryption (AWS owned keys for DynamoDB and SQS, SSE-S3), which costs nothing
but cannot be audited in CloudTrail or revoked per stack.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct

# what a role needs of the key to read and write a table, an object or a message encrypted with it
USE = ("kms:Decrypt", "kms:GenerateDataKey")


class Encryption(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "DataKey",
            alias=f"alias/{prefix}-data",
            description=f"{prefix}: the tables, buckets and queues holding customer data",
            enable_key_rotation=True,  # new key material every year; what it encrypted stays readable
            removal_policy=cdk.RemovalPolicy.RETAIN,  # the retained tables and buckets need it
        )
