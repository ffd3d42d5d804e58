"""Where moto's SQS, EventBridge and Step Functions are slow for reasons AWS is not, answered as
moto answers (DynamoDB's are in ``dynamodb.py``); each compared with moto as shipped in
``tests/integration/test_emulator_messaging.py``:

- **A JSONPath is parsed once.** moto's EventBridge (input paths of every target, on every
  PutEvents) and Step Functions (every path of every state, on every transition) parse their
  JSONPath expressions with jsonpath_ng's PLY parser each time. Parsed paths are immutable, so
  each expression is parsed once and the parsed path reused.
- **A message's retention is read from its queue.** moto's ReceiveMessage asks, for every
  message it considers, for the queue's attributes (computing all of them, counts of the whole
  queue included) to read one number, the retention period.

``install()`` is idempotent; ``as_shipped()`` undoes it for the tests.
"""

from __future__ import annotations

import functools
from typing import Any

from .patching import Replacements

_replacements = Replacements()
_replace = _replacements.replace
as_shipped = _replacements.as_shipped


def install() -> None:
    _replacements.install(_parse_json_paths_once, _retention_from_the_queue)


def _parse_json_paths_once() -> None:
    import jsonpath_ng
    import jsonpath_ng.ext
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (jsonpath_ng.ext, jsonpath_ng):
        shipped = module.parse
        cached = functools.lru_cache(maxsize=4096)(shipped)
        _replace(module, "parse", cached)
        for user in (result_path, json_path):
            if getattr(user, "parse", None) is shipped:
                _replace(user, "parse", cached)


def _retention_from_the_queue() -> None:
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Any) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())

    _replace(SQSBackend, "is_message_valid_based_on_retention_period", is_message_valid_based_on_retention_period)
