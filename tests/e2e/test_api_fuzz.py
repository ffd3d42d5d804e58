"""Property-based checks of the HTTP API against its own OpenAPI document (schemathesis):
whatever a client sends, the answer is never a server error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from nudgeloop.openapi import document

schema = schemathesis.openapi.from_dict(document())
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    from nudgeloop_cli.local.runtime import LocalStack
    from nudgeloop_cli.local.server import Background, free_port

    port = free_port()
    stack = LocalStack(public_base_url=f"http://127.0.0.1:{port}").start()
    background = Background(stack, port).start()
    try:
        yield background.url
    finally:
        background.stop()
        stack.stop()


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case: Any, base_url: str) -> None:
    response = case.call(base_url=base_url, headers={"x-api-key": "local-dev-key"})
    case.validate_response(response, checks=(not_a_server_error,))
