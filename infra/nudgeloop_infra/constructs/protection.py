"""Protection of the HTTP API (optional, context ``waf=true``): an AWS WAF web ACL on the API's
stage with rate-based rules per client IP, tighter for the keyless routes (unsubscribe, consent
confirmation, the Shopify webhook, the OpenAPI document), and AWS's IP reputation list.

No managed rule set that inspects bodies: AWS's common rule set blocks bodies over 8 KB, and an
event batch may be 1 MB; requests are validated by the API itself (every refusal names the
field). Without this construct each keyless route still has its own stage throttling
(``RouteSpec.rate_limit``), which limits all callers together, not one client.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as waf
from constructs import Construct

from nudgeloop.specs import Catalog

# requests per client IP in any 5 minutes (WAF's evaluation window) before WAF answers 403
KEYLESS_PER_IP = 300  # a person clicks a link a few times; a scanner does not get far
ALL_PER_IP = 6000  # 20 a second: a shop's servers post batches of up to 100 events


def _visibility(name: str) -> waf.CfnWebACL.VisibilityConfigProperty:
    return waf.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _per_ip(
    prefix: str, name: str, priority: int, limit: int, only: waf.CfnWebACL.OrStatementProperty | None = None
) -> waf.CfnWebACL.RuleProperty:
    """Block a client IP past ``limit`` requests in 5 minutes (``only`` those requests, if given)."""
    rate = waf.CfnWebACL.RateBasedStatementProperty(
        limit=limit,
        aggregate_key_type="IP",
        scope_down_statement=waf.CfnWebACL.StatementProperty(or_statement=only) if only is not None else None,
    )
    return waf.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        action=waf.CfnWebACL.RuleActionProperty(block={}),
        statement=waf.CfnWebACL.StatementProperty(rate_based_statement=rate),
        visibility_config=_visibility(f"{prefix}-{name}"),
    )


class Protection(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, catalog: Catalog, stage: apigw.Stage) -> None:
        super().__init__(scope, construct_id)
        keyless = sorted({r.path for r in catalog.routes if not r.api_key_required})
        # WAF sees the path as called (with the stage, /prod/v1/..., on the execute-api URL)
        matches = [
            waf.CfnWebACL.StatementProperty(
                byte_match_statement=waf.CfnWebACL.ByteMatchStatementProperty(
                    field_to_match=waf.CfnWebACL.FieldToMatchProperty(uri_path={}),
                    positional_constraint="ENDS_WITH",
                    search_string=path,
                    text_transformations=[waf.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
                )
            )
            for path in keyless
        ]
        rules = [
            waf.CfnWebACL.RuleProperty(
                name="ip-reputation",
                priority=0,
                override_action=waf.CfnWebACL.OverrideActionProperty(none={}),
                statement=waf.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=waf.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name="AWSManagedRulesAmazonIpReputationList"
                    )
                ),
                visibility_config=_visibility(f"{catalog.prefix}-ip-reputation"),
            ),
            _per_ip(catalog.prefix, "keyless-per-ip", 1, KEYLESS_PER_IP, waf.CfnWebACL.OrStatementProperty(statements=matches)),
            _per_ip(catalog.prefix, "all-per-ip", 2, ALL_PER_IP),
        ]
        self.web_acl = waf.CfnWebACL(
            self,
            "WebAcl",
            name=f"{catalog.prefix}-api",
            scope="REGIONAL",
            default_action=waf.CfnWebACL.DefaultActionProperty(allow={}),
            rules=rules,
            visibility_config=_visibility(f"{catalog.prefix}-api"),
        )
        waf.CfnWebACLAssociation(self, "StageAssociation", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn)
        cdk.Tags.of(self).add("nudgeloop:concern", "protection")
