#!/usr/bin/env python3
"""CDK app: `make synth` writes the template without AWS credentials or Docker."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from nudgeloop_infra.stack import NudgeloopStack, StackConfig

# cdk.json's context (feature flags, defaults) also applies when the app runs without the CDK CLI
# (`make synth`); values given by the CLI (`-c key=value`) take precedence.
CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"
app = cdk.App(context=json.loads(CDK_JSON.read_text())["context"])
config = StackConfig.from_context(app)
NudgeloopStack(app, "Nudgeloop", config=config, description="Nudgeloop: closed-loop marketing automation")
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
