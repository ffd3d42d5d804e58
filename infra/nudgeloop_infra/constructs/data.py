"""Tables, buckets and the signing secret (from the shared catalog)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secrets
from constructs import Construct

from nudgeloop.specs import Catalog, IndexSpec
from nudgeloop_infra.nag import acknowledge

_TYPES = {"S": ddb.AttributeType.STRING, "N": ddb.AttributeType.NUMBER, "B": ddb.AttributeType.BINARY}


def _attr(key: tuple[str, str]) -> ddb.Attribute:
    return ddb.Attribute(name=key[0], type=_TYPES[key[1]])


def _projection(ix: IndexSpec) -> ddb.ProjectionType:
    return ddb.ProjectionType(ix.projection)


class Data(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, catalog: Catalog, kms_key: kms.IKey | None = None) -> None:
        super().__init__(scope, construct_id)
        self.key = kms_key  # a customer-managed key (constructs/encryption.py), or AWS-managed encryption
        self.tables: dict[str, ddb.TableV2] = {}
        for spec in catalog.tables:
            table = ddb.TableV2(
                self,
                f"{spec.key.capitalize()}Table",
                table_name=spec.name,
                partition_key=_attr(spec.partition_key),
                sort_key=_attr(spec.sort_key) if spec.sort_key else None,
                billing=ddb.Billing.on_demand(),
                encryption=ddb.TableEncryptionV2.aws_managed_key(),  # a customer-managed key: below
                point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
                time_to_live_attribute=spec.ttl_attribute,
                dynamo_stream=ddb.StreamViewType(spec.stream_view) if spec.stream_view else None,
                deletion_protection=True,
                removal_policy=cdk.RemovalPolicy.RETAIN,
                global_secondary_indexes=[
                    ddb.GlobalSecondaryIndexPropsV2(
                        index_name=ix.name,
                        partition_key=_attr(ix.partition_key),
                        sort_key=_attr(ix.sort_key) if ix.sort_key else None,
                        projection_type=_projection(ix),
                        non_key_attributes=list(ix.include) or None,
                    )
                    for ix in spec.global_indexes
                ]
                or None,
                local_secondary_indexes=[
                    ddb.LocalSecondaryIndexProps(
                        index_name=ix.name,
                        sort_key=_attr(ix.sort_key),  # type: ignore[arg-type]
                        projection_type=_projection(ix),
                    )
                    for ix in spec.local_indexes
                ]
                or None,
            )
            if kms_key is not None:
                # TableV2's customer_managed_key() cannot render a replica's key in a stack of no fixed
                # region (this one): the key is set on the table's one replica, as CloudFormation takes it
                cfn = table.node.default_child
                assert isinstance(cfn, cdk.CfnResource)
                cfn.add_property_override("SSESpecification", {"SSEEnabled": True, "SSEType": "KMS"})
                cfn.add_property_override("Replicas.0.SSESpecification", {"KMSMasterKeyId": kms_key.key_arn})
            self.tables[spec.key] = table

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.access_logs,
            {
                "AwsSolutions-S1": "This is the access-log bucket itself; logging it into itself would loop.",
            },
        )
        self.buckets: dict[str, s3.Bucket] = {}
        for key in catalog.bucket_stems:
            self.buckets[key] = s3.Bucket(
                self,
                f"{key.capitalize()}Bucket",
                bucket_name=catalog.bucket_name(key, cdk.Aws.ACCOUNT_ID, cdk.Aws.REGION),
                versioned=True,
                encryption=s3.BucketEncryption.KMS if kms_key else s3.BucketEncryption.S3_MANAGED,
                encryption_key=kms_key,
                bucket_key_enabled=True if kms_key else None,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                enforce_ssl=True,
                server_access_logs_bucket=self.access_logs,
                server_access_logs_prefix=f"{key}/",
                removal_policy=cdk.RemovalPolicy.RETAIN,
                lifecycle_rules=[
                    s3.LifecycleRule(
                        id=f"expire-{e.prefix.strip('/')}",
                        prefix=e.prefix,
                        expiration=cdk.Duration.days(e.days),
                        noncurrent_version_expiration=cdk.Duration.days(1),
                        abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                    )
                    for e in catalog.expirations
                    if e.bucket_key == key
                ]
                or None,
            )
        self.signing_secret = secrets.Secret(
            self,
            "SigningKey",
            secret_name=catalog.signing_secret_name,
            description="HMAC key for unsubscribe and consent-confirmation links",
            generate_secret_string=secrets.SecretStringGenerator(password_length=64, exclude_punctuation=True),
        )
        # The Shopify app's client secret is an SSM SecureString parameter the operator creates
        # (catalog.webhook_secret_name; docs/operations.md, "Shopify"): CloudFormation cannot
        # create SecureString parameters, and a Secrets Manager secret would cost $0.40 a month.
        acknowledge(
            self.signing_secret,
            {
                "AwsSolutions-SMG4": "Rotating the link-signing key would invalidate every unsubscribe link already in "
                "inboxes; rotation is a deliberate operator action with a key-version overlap (docs/operations.md).",
            },
        )
