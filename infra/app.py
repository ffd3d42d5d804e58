#!/usr/bin/env python3
"""CDK app: `make synth` writes the template without AWS credentials or Docker."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from nudgeloop_infra.stack import NudgeloopStack, StackConfig

app = cdk.App()
config = StackConfig.from_context(app)
NudgeloopStack(app, "Nudgeloop", config=config, description="Nudgeloop: closed-loop marketing automation")
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
