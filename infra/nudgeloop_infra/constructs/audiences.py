"""The audience tables' home in AWS (docs/audiences.md): the Glue database the snapshot job
fills, the Athena workgroup every audience query runs in, the snapshot and the export functions."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from constructs import Construct

from nudgeloop.resources import audience_workgroup_configuration
from nudgeloop.specs import Catalog

from .data import Data
from .functions import FunctionFactory


class Audiences(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, catalog: Catalog, functions: FunctionFactory, data: Data) -> None:
        super().__init__(scope, construct_id)
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=cdk.Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=catalog.audience_database,
                description="The audience tables: Parquet derived daily by Athena from DynamoDB's exports and the archive",
            ),
        )
        config = audience_workgroup_configuration(  # as the local runtime provisions it
            data.buckets["data"].bucket_name, data.key.key_arn if data.key else None
        )
        result = config["ResultConfiguration"]
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=catalog.audience_workgroup,
            description="Audience evaluations and the daily audience snapshot",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=config["EnforceWorkGroupConfiguration"],
                publish_cloud_watch_metrics_enabled=config["PublishCloudWatchMetricsEnabled"],
                bytes_scanned_cutoff_per_query=config["BytesScannedCutoffPerQuery"],
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version=config["EngineVersion"]["SelectedEngineVersion"]
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=result["OutputLocation"],
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option=result["EncryptionConfiguration"]["EncryptionOption"],
                        kms_key=result["EncryptionConfiguration"].get("KmsKey"),
                    ),
                ),
            ),
        )
        self.function = functions.function("audience_snapshot")  # its permissions: nudgeloop.grants.GRANTS
        # invoked asynchronously for each export the API starts (its on-failure queue: the failures queue)
        self.export_function = functions.function("audience_export")
