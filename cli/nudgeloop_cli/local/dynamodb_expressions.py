"""moto's DynamoDB expressions parsed once (installed by ``dynamodb.install()``, undone by its
``as_shipped()``; compared with moto as shipped in ``tests/integration/emulator_dynamodb``):

- **A condition is parsed once.** moto parses every ``ConditionExpression`` and
  ``FilterExpression`` (a lexer and parser in Python) on every request; most requests repeat
  the same few (``attribute_not_exists(pk)`` on every store-once write). The parsed
  expression is a tree of pure operations over the item, so one parse serves every request
  with the same expression, names and values.
- **An ``UpdateExpression`` is parsed once** (moto parses it twice per request): its tree is
  only read, and the validator copies it before it resolves names and values in it, here by
  unpickling the tree pickled when it was parsed (a fifth of the time ``deepcopy`` takes, which
  was half of a transaction's).
"""

from __future__ import annotations

import copy
import functools
import json
import pickle
import weakref
from collections.abc import Callable
from typing import Any

Replace = Callable[[Any, str, Any], None]  # the DynamoDB replacements' ``replace``


def conditions_parsed_once(replace: Replace) -> None:
    from moto.dynamodb import comparisons, models, responses
    from moto.dynamodb.models import table

    shipped = comparisons.create_condition_expression_parser

    @functools.lru_cache(maxsize=2048)
    def parsed(expression: str | None, names: str, values: str) -> tuple[Any, list[str], list[str]]:
        parser = shipped(expression, json.loads(names), json.loads(values))
        return parser.parse(), list(parser.expr_attr_names_found), list(parser.expr_attr_values_found)

    class ParsedOnce:
        """moto's parser as its callers use it: ``parse()``, then the names and values it found
        (a failed parse raises as moto's does, every time: failures are not kept)."""

        def __init__(self, expression: str | None, names: Any, values: Any) -> None:
            self._args = expression, names, values
            self.expr_attr_names_found: list[str] = []
            self.expr_attr_values_found: list[str] = []

        def parse(self) -> Any:
            expression, names, values = self._args
            try:
                key = json.dumps(names, sort_keys=True), json.dumps(values, sort_keys=True)
            except TypeError:  # a value JSON cannot hold (bytes): parsed for this request alone
                parser = shipped(expression, names, values)
                op = parser.parse()
                self.expr_attr_names_found, self.expr_attr_values_found = (
                    parser.expr_attr_names_found,
                    parser.expr_attr_values_found,
                )
                return op
            op, found_names, found_values = parsed(expression, *key)
            self.expr_attr_names_found, self.expr_attr_values_found = list(found_names), list(found_values)
            return op

    def get_filter_expression(expression: str | None, names: Any, values: Any) -> Any:
        return ParsedOnce(expression, names, values).parse()

    # the request handlers parse to validate (the names used), the models to evaluate
    replace(responses, "create_condition_expression_parser", ParsedOnce)
    for module in (models, table):
        replace(module, "get_filter_expression", get_filter_expression)


def update_expressions_parsed_once(replace: Replace) -> None:
    from moto.dynamodb import models, responses
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    pickled: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()  # parsed trees, never changed

    @functools.lru_cache(maxsize=2048)
    def parsed_update(expression_str: str) -> Any:
        tree = UpdateExpressionParser.make(expression_str)
        pickled[tree] = pickle.dumps(tree, pickle.HIGHEST_PROTOCOL)
        return tree

    class UpdateExpressionParsedOnce(UpdateExpressionParser):  # type: ignore[misc]
        @classmethod
        def make(cls, expression_str: str) -> Any:
            return parsed_update(expression_str)

    def copied(value: Any, memo: Any = None) -> Any:  # the validators module's deepcopy
        try:
            blob = pickled.get(value)
        except TypeError:  # not a tree (unhashable)
            blob = None
        # the bytes are our own pickle of a tree moto parsed in this process, never outside input
        return pickle.loads(blob) if blob is not None else copy.deepcopy(value, memo)  # noqa: S301

    replace(validators, "deepcopy", copied)
    for module in (models, responses):
        replace(module, "UpdateExpressionParser", UpdateExpressionParsedOnce)
