"""What one small AWS call costs in the local runtime: GetItem of a two-attribute item, with
moto (and botocore) as shipped and with the local runtime's replacements
(cli/nudgeloop_cli/local/dynamodb.py, moto_hot_paths.py). Prints its figures.

.venv/bin/python bench/request_path.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cli"))


def _per_call_ms(client: object, calls: int) -> float:
    get = client.get_item  # type: ignore[attr-defined]
    for _ in range(200):  # warm
        get(TableName="t", Key={"pk": {"S": "a"}})
    began = time.perf_counter()
    for _ in range(calls):
        get(TableName="t", Key={"pk": {"S": "a"}})
    return (time.perf_counter() - began) / calls * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    import boto3
    from moto import mock_aws

    from nudgeloop_cli.local import dynamodb, moto_hot_paths

    dynamodb.install()
    moto_hot_paths.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        ours, shipped = [], []
        for _ in range(3):  # alternating, the median of three each
            ours.append(_per_call_ms(client, args.calls))
            with moto_hot_paths.as_shipped(), dynamodb.as_shipped():
                shipped.append(_per_call_ms(client, args.calls))
    print(
        f"GetItem, {args.calls} calls x 3: moto as shipped {statistics.median(shipped):.2f} ms/call, "
        f"local runtime {statistics.median(ours):.2f} ms/call"
    )


if __name__ == "__main__":
    main()
