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
- **A message's deduplication is read from its queue.** moto's SendMessage (on every message
  an EventBridge rule delivers too) computes all of the queue's attributes, counts included,
  to read one, ``ContentBasedDeduplication``: while it sends, that one is what it is given.
- **A state machine's definition is parsed once.** moto's Step Functions parses the definition
  (an ANTLR grammar, about 20 ms for the journey) again for every execution it starts. The
  parsed program holds no execution's state (each runs in its own environment), so each
  definition is parsed once and its program shared; CreateStateMachine's validation of a
  definition (a parse too, on every new stack) uses the same parse (an invalid definition is
  parsed, and refused, every time).
- **Step Functions keeps its clients.** moto's Step Functions creates a new boto3 client (about
  8 ms) for every task it runs (each Lambda invoke of a journey); here one client per region,
  service and endpoint is kept, as a service would (botocore clients are thread-safe).
- **DynamoDB requests are not signed.** SigV4 signing is a fifth of a small request's time, and
  moto checks no signature; it takes the region from the endpoint and, without credentials in
  the request, the default account, as it does for the local stack's credentials. Only
  DynamoDB's (and its streams') standard requests skip it, most of the stack's calls; S3 (whose
  payload hashing moto reads) and presigned URLs are signed as ever.
- **Random identifiers are drawn at once.** moto draws each character of a request id (52 per
  request) and of its other identifiers with a call of its own; here they are drawn together
  from the same seedable generator and alphabet (the same distribution: ids stay random and
  ``moto_api`` seeding still makes them repeatable).
- **A request is dispatched without reflection.** moto lists a response class's methods with
  ``inspect.getmembers`` on every request to see whether it implements the action (about a
  tenth of a small request's time); the list is made once per class.
- **A client's User-Agent header is built once.** botocore assembles the same header from a
  dozen sanitized components, twice per request (about a tenth again); it is built once per
  client state and set of request features (what it contains), and reused.

- **A timestamp is converted once.** moto stores many timestamps as text (every S3 object's
  last-modified time among them) and parses the text again with dateutil on every response
  that holds it: each ListObjectsV2 parses one date per key. The conversion depends on the value
  and the format alone, so each (value, format) is converted once.

- **A request is built without a test client.** moto turns every botocore request into a
  werkzeug request with werkzeug's test ``EnvironBuilder`` (URL splitting, header copies,
  stream sizing: a sixth of a small request's time). A request to a service's root URL with a
  body (every JSON-protocol call: DynamoDB, its streams, SQS, EventBridge, Step Functions) gets
  the same WSGI environ built directly; any other request (a path, a query, no body: S3's) is
  built as shipped.

- **A response's member names are worked out once.** moto's serializer finds each member of a
  response in the value it holds by trying aliases (the shape's name, its parent's prefix, the
  class name, the model's serialization name, each also in snake case), worked out again for
  every member of every response. For a plain dict they depend on the member, its shape and
  the shape's parent alone, so they are worked out once per member and shape; the dict is
  then searched for them in the same order.

``install()`` is idempotent; ``as_shipped()`` undoes it for the tests.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable
from typing import Any

from .patching import Replacements

_replacements = Replacements()
_replace = _replacements.replace
as_shipped = _replacements.as_shipped


def install() -> None:
    _replacements.install(
        _parse_json_paths_once,
        _retention_from_the_queue,
        _deduplication_from_the_queue,
        _parse_definitions_once,
        _state_clients_kept,
        _method_names_once,
        _random_strings_at_once,
        _dynamodb_requests_unsigned,
        _user_agent_once,
        _timestamps_converted_once,
        _requests_built_directly,
        _attribute_keys_once,
    )


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


def _deduplication_from_the_queue() -> None:
    from moto.sqs.models import Queue, SQSBackend

    sending = threading.local()
    computed: Callable[[Any], dict[str, Any]] = Queue.__dict__["attributes"].fget
    send_message = SQSBackend.send_message

    def queue_attributes(queue: Any) -> dict[str, Any]:
        if getattr(sending, "active", False):  # what SendMessage reads of them, and nothing more
            return {"ContentBasedDeduplication": str(queue.content_based_deduplication).lower()} if queue.fifo_queue else {}
        return computed(queue)

    @functools.wraps(send_message)
    def send(backend: Any, *args: Any, **kwargs: Any) -> Any:
        held = getattr(sending, "active", False)
        sending.active = True
        try:
            return send_message(backend, *args, **kwargs)
        finally:
            sending.active = held

    _replace(Queue, "attributes", property(queue_attributes))
    _replace(SQSBackend, "send_message", send)


def _parse_definitions_once() -> None:
    from moto.stepfunctions.parser import models as parser_models
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend import execution_worker

    shipped = AmazonStateLanguageParser.parse
    cached = functools.lru_cache(maxsize=64)(shipped)

    class Parser(AmazonStateLanguageParser):  # what the execution worker and the validation parse with
        parse = staticmethod(cached)

    _replace(execution_worker, "AmazonStateLanguageParser", Parser)
    _replace(parser_models, "AmazonStateLanguageParser", Parser)


def _state_clients_kept() -> None:
    import types

    import boto3
    from moto.stepfunctions.parser.asl.utils import boto_client

    lock = threading.Lock()
    kept: dict[tuple[Any, ...], Any] = {}

    def client(*, region_name: str, service_name: str, endpoint_url: str | None = None, **kwargs: Any) -> Any:
        key = (region_name, service_name, endpoint_url)  # the rest is the same on every call
        with lock:
            if key not in kept:
                kept[key] = boto3.client(  # type: ignore[call-overload]
                    region_name=region_name, service_name=service_name, endpoint_url=endpoint_url, **kwargs
                )
            return kept[key]

    _replace(boto_client, "boto3", types.SimpleNamespace(client=client))


def _dynamodb_requests_unsigned() -> None:
    from botocore.signers import RequestSigner

    shipped = RequestSigner.sign

    def sign(self: RequestSigner, operation_name: str, request: Any, *args: Any, **kwargs: Any) -> Any:
        standard = (args[1] if len(args) > 1 else kwargs.get("signing_type", "standard")) == "standard"
        if standard and self._signing_name == "dynamodb":  # type: ignore[attr-defined]
            return None
        return shipped(self, operation_name, request, *args, **kwargs)

    _replace(RequestSigner, "sign", sign)


def _random_strings_at_once() -> None:
    import string

    from moto.moto_api._internal.moto_random import HEX_CHARS, MotoRandom

    hex_digits = [str(c) for c in HEX_CHARS]

    def get_random_hex(self: MotoRandom, length: int = 8) -> str:
        return "".join(self.choices(hex_digits, k=length))

    def get_random_string(self: MotoRandom, length: int = 20, include_digits: bool = True, lower_case: bool = False) -> str:
        pool = string.ascii_letters + (string.digits if include_digits else "")
        drawn = "".join(self.choices(pool, k=length))
        return drawn.lower() if lower_case else drawn

    _replace(MotoRandom, "get_random_hex", get_random_hex)
    _replace(MotoRandom, "get_random_string", get_random_string)


def _method_names_once() -> None:
    from moto.core import responses, utils

    @functools.lru_cache(maxsize=512)
    def method_names_from_class(clazz: type) -> frozenset[str]:  # only asked "is it one of them"
        return frozenset(utils.method_names_from_class(clazz))

    _replace(responses, "method_names_from_class", method_names_from_class)


def _user_agent_once() -> None:
    from botocore.context import get_context
    from botocore.useragent import UserAgentString

    shipped = UserAgentString.to_string
    built: dict[tuple[Any, ...], tuple[UserAgentString, str]] = {}

    def to_string(self: UserAgentString) -> str:
        context = get_context()
        state = tuple(
            (name, frozenset(value) if isinstance(value, set) else value if isinstance(value, str | None) else id(value))
            for name, value in vars(self).items()
        )
        key = (id(self), state, frozenset(context.features) if context is not None else None)
        held = built.get(key)
        if held is None:
            if len(built) > 4096:
                built.clear()
            held = built[key] = (self, shipped(self))  # ``self`` held: its id is not reused meanwhile
        return held[1]

    _replace(UserAgentString, "to_string", to_string)


def _timestamps_converted_once() -> None:
    from moto.core.serialize import TimestampSerializer

    shipped = TimestampSerializer._convert_timestamp_to_str

    converter = TimestampSerializer(TimestampSerializer.TIMESTAMP_FORMAT_ISO8601)  # the format is passed in

    @functools.lru_cache(maxsize=8192)
    def converted(value: Any, timestamp_format: str) -> Any:
        return shipped(converter, value, timestamp_format)

    def convert(self: TimestampSerializer, value: Any, timestamp_format: str) -> Any:
        if type(self) is not TimestampSerializer:  # a subclass may convert otherwise
            return shipped(self, value, timestamp_format)
        try:
            return converted(value, timestamp_format)
        except TypeError:  # a value that cannot be a key (unhashable): converted for this use alone
            return shipped(self, value, timestamp_format)

    _replace(TimestampSerializer, "_convert_timestamp_to_str", convert)


def _requests_built_directly() -> None:
    import sys

    from moto.core import request as moto_request

    cls = moto_request.Request
    shipped = cls.from_primitives.__func__  # type: ignore[attr-defined]
    preserved_key = moto_request.PRESERVED_HEADER_NAMES_ENVIRON_KEY

    def from_primitives(klass: Any, method: str, url: str, headers: Any, body: Any = None) -> Any:
        host = url[8:-1] if url.startswith("https://") and url.endswith("/") else ""
        if not host or not isinstance(body, bytes) or not body or any(c in host for c in "/:?#@%"):
            return shipped(klass, method, url, headers, body)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "REQUEST_URI": "/",
            "RAW_URI": "/",
            "SERVER_NAME": host,
            "SERVER_PORT": "443",
            "HTTP_HOST": host,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
        }
        preserved = {}
        for key, raw in headers.items():
            value = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            name = key.upper().replace("-", "_")
            if name in ("TRANSFER_ENCODING", "CONTENT_LENGTH"):
                continue
            if moto_request.should_preserve_original_header_name(key):
                preserved[moto_request.environ_key_for_header(key)] = key
            if name == "CONTENT_TYPE":
                environ.setdefault("CONTENT_TYPE", value)  # the first, as werkzeug's builder takes
                continue
            name = f"HTTP_{name}"
            environ[name] = f"{environ[name]}, {value}" if name in environ else value
        request = klass(environ)
        request.environ[preserved_key] = preserved
        return request

    _replace(cls, "from_primitives", classmethod(from_primitives))


def _attribute_keys_once() -> None:
    from moto.core import serialize
    from moto.core.constants import MISSING
    from moto.core.utils import get_value

    picker = serialize.AttributePicker
    shipped_call = picker.__call__
    keys: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def call(self: Any, context: Any) -> Any:
        obj = context.obj
        if type(obj) is not dict or self.response_transformers:
            return shipped_call(self, context)
        shape = context.shape
        cache_key = (type(self), tuple(self.alias_providers), context.key, shape, getattr(shape, "parent", None))
        try:
            possible = keys[cache_key]
        except KeyError:
            possible = keys[cache_key] = tuple(self.get_possible_keys(context))
        for key in possible:
            value = get_value(obj, key, MISSING)
            if value is not MISSING:
                return value
        return None

    _replace(picker, "__call__", call)
