"""Synthesize the CDK app once per session (as `make synth` does, in a subprocess) and load it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run infra/app.py with a layer of just our package (no wheels needed to test the template)."""
    work = tmp_path_factory.mktemp("synth")
    layer = work / "layer" / "python"
    shutil.copytree(ROOT / "layers/common/nudgeloop", layer / "nudgeloop")
    (work / "science" / "python" / "numpy").mkdir(parents=True)
    out = work / "cdk.out"
    env = {
        **os.environ,
        "CDK_OUTDIR": str(out),
        "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
        "CDK_CONTEXT_JSON": json.dumps(
            {"layer_dir": str(work / "layer"), "science_layer_dir": str(work / "science"), "sender": "Shop <news@shop.example>"}
        ),
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "infra/app.py")], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return {
        "returncode": proc.returncode,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "out": out,
        "template": json.loads((out / "Nudgeloop.template.json").read_text()) if proc.returncode == 0 else None,
    }


@pytest.fixture(scope="session")
def template(synth: dict[str, Any]) -> dict[str, Any]:
    assert synth["returncode"] == 0, synth["stderr"][-4000:]
    return synth["template"]
