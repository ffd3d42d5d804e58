"""Synthesize the CDK app once per session (as `make synth` does, in a subprocess) and load it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run infra/app.py with a layer of just our package (no wheels needed to test the template)."""
    from nudgeloop_infra import lint

    work = tmp_path_factory.mktemp("synth")
    proc = lint.synthesize(work)
    return {
        "returncode": proc.returncode,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "out": work / "cdk.out",
        "template": json.loads(lint.template_path(work).read_text()) if proc.returncode == 0 else None,
    }


@pytest.fixture(scope="session")
def template(synth: dict[str, Any]) -> dict[str, Any]:
    assert synth["returncode"] == 0, synth["stderr"][-4000:]
    return synth["template"]


@pytest.fixture(scope="session")
def full_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stack with every alarm and the dashboard, X-Ray on, its own retention and WAF
    (``-c monitoring=full -c tracing=true -c raw_archive_days=730 -c sent_mail_days=0 -c waf=true
    -c audience_export_days=2 -c publication_days=14``)."""
    from nudgeloop_infra import lint

    work = tmp_path_factory.mktemp("synth-full")
    context = {
        "monitoring": "full",
        "tracing": "true",
        "raw_archive_days": "730",
        "sent_mail_days": "0",
        "waf": "true",
        "audience_export_days": "2",
        "publication_days": "14",
    }
    proc = lint.synthesize(work, context)
    assert proc.returncode == 0, proc.stderr[-4000:]
    found: dict[str, Any] = json.loads(lint.template_path(work).read_text())
    return found


@pytest.fixture(scope="session")
def kms_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stack with its own KMS key for the customer data (``-c kms=true``)."""
    from nudgeloop_infra import lint

    work = tmp_path_factory.mktemp("synth-kms")
    proc = lint.synthesize(work, {"kms": "true"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    found: dict[str, Any] = json.loads(lint.template_path(work).read_text())
    return found
