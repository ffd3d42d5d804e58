"""`make lint`'s checks of what `cdk deploy` would ship, with no AWS account and no wheels:

- the stack synthesized with a stub layer (just our package), as the infra tests do;
- cfn-lint on the template, with the serverless rules of cfn-lint-serverless;
- asl-validator (npm) on the journey state machine's definition.

Usage: ``python -m nudgeloop_infra.lint [--asl-validator PATH]``; exits non-zero on any finding.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SENDER = "Shop <news@shop.example>"

# Checks not applied to the whole template, each with its reason (per-resource exemptions are
# metadata on the resource itself, see FunctionFactory.dead_letter_queue).
IGNORED = {
    "W3005": "CDK adds explicit DependsOn from functions to their role policies; harmless duplication.",
    "ES1001": "SQS event source mappings take no OnFailure destination (the queue's redrive policy is it); "
    "stream mappings have one (tests/infra/test_stack.py).",
    "ES1007": "CDK names a function by Ref in its EventInvokeConfig and by Arn in the schedule's permission, "
    "which the rule compares literally; every scheduled function's on-failure destination is asserted by "
    "tests/infra/test_stack.py.",
}


def synthesize(work: Path, context: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Synthesize the app into ``work/cdk.out`` with a stub layer (just our package), as `make
    synth` does but with no wheels: what `make lint` and the infra tests check. ``context``
    adds CDK context values (as ``cdk synth -c key=value`` would)."""
    layer = work / "layer" / "python"
    shutil.copytree(ROOT / "layers/common/nudgeloop", layer / "nudgeloop", dirs_exist_ok=True)
    (work / "science" / "python" / "numpy").mkdir(parents=True, exist_ok=True)
    out = work / "cdk.out"
    env = {
        **os.environ,
        "CDK_OUTDIR": str(out),
        "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
        "CDK_CONTEXT_JSON": json.dumps(
            {
                "layer_dir": str(work / "layer"),
                "science_layer_dir": str(work / "science"),
                "sender": SENDER,
                **(context or {}),
            }
        ),
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "infra/app.py")], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def template_path(work: Path) -> Path:
    return work / "cdk.out" / "Nudgeloop.template.json"


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--ignore-checks",
            *IGNORED,
            "--append-rules",
            "cfn_lint_serverless.rules",
            "--",
            str(template),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def asl_validate(validator: str, work: Path) -> subprocess.CompletedProcess[str]:
    from nudgeloop.journey_definition import PLACEHOLDERS, render

    definition = work / "journey.asl.json"
    definition.write_text(
        render({ph: f"arn:aws:lambda:eu-west-1:123456789012:function:nudgeloop-{key}" for ph, key in PLACEHOLDERS.items()})
    )
    return subprocess.run([validator, "--json-path", str(definition)], capture_output=True, text=True, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asl-validator", default=str(ROOT / ".npm-tools/node_modules/.bin/asl-validator"))
    args = parser.parse_args(argv)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        synth = synthesize(work)
        if synth.returncode != 0:
            raise SystemExit(f"synth failed:\n{synth.stderr[-4000:]}")
        lint = cfn_lint(template_path(work))
        sys.stdout.write(f"cfn-lint (with cfn-lint-serverless): {'clean' if lint.returncode == 0 else 'FINDINGS'}\n")
        if lint.returncode != 0:
            sys.stdout.write(lint.stdout + lint.stderr)
            failed = True
        asl = asl_validate(args.asl_validator, work)
        sys.stdout.write(f"asl-validator: {asl.stdout.strip() or asl.stderr.strip()}\n")
        failed = failed or asl.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
