"""The OpenAPI 3.1 document of the HTTP API, generated from the models that validate requests.

`docs/openapi.json` is this document committed; a test keeps the two identical, and the API
serves it at `GET /v1/openapi.json`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from nudgeloop import __version__
from nudgeloop.domain import audience_exports as export_rules
from nudgeloop.domain import broadcasts as broadcast_rules
from nudgeloop.domain.access import KEY_NAME, SCOPES, admitted
from nudgeloop.domain.audiences import AUDIENCE_ID, Audience
from nudgeloop.domain.audit import OBJECT
from nudgeloop.domain.events import MAX_EVENTS_PER_BATCH, PROPERTY_MODELS, EventIn, Rejection
from nudgeloop.domain.vouchers import CODE, MAX_POOL_UPLOAD, POOL_NAME
from nudgeloop.services.personal_data import EVENTS_INLINE

REF = "#/components/schemas/{model}"


class BatchAnswer(BaseModel):
    accepted: int = Field(description="events stored now (each exactly once)")
    duplicates: int = Field(description="events already stored, or repeated within the batch")
    rejected: list[Rejection] = Field(description="invalid events, by index, with the field and the reason")
    event_ids: list[str] = Field(description="ids of the accepted events (given, or derived from the content)")


class ErrorDetail(BaseModel):
    field: str | None
    reason: str


class ErrorAnswer(BaseModel):
    error: ErrorDetail


def _schemas() -> dict[str, Any]:
    typed = sorted(set(PROPERTY_MODELS.values()), key=lambda m: m.__name__)
    models: list[type[BaseModel]] = [EventIn, BatchAnswer, ErrorAnswer, Audience, *typed]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    schemas: dict[str, Any] = top["$defs"]
    by_type = {t: m.__name__ for t, m in PROPERTY_MODELS.items()}
    schemas["EventIn"]["properties"]["properties"] = {
        "description": "Per type: "
        + ", ".join(f"`{t}`: {n}" for t, n in sorted(by_type.items()))
        + "; `custom.*` events carry a free-form object.",
        "anyOf": [{"$ref": REF.format(model=n)} for n in sorted(set(by_type.values()))] + [{"type": "object"}],
    }
    schemas["EventBatch"] = {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_EVENTS_PER_BATCH,
                "items": {"$ref": REF.format(model="EventIn")},
            }
        },
    }
    return schemas


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=ref)}}}


def _object(description: str) -> dict[str, Any]:
    """An answer that is a JSON object (described, not modelled)."""
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def _body(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """A required JSON object body with these properties and no others."""
    schema = {"type": "object", "required": required, "properties": properties, "additionalProperties": False}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    text = {
        "400": "invalid request; the body names the field",
        "401": "the webhook signature is missing or does not match",
        "403": "missing or wrong API key, a key whose scope does not admit the route (the body names the scopes "
        "that do), or a forged token",
        "404": "not found",
        "409": "refused in the resource's state (the body says why)",
        "413": "too large",
        "503": "temporarily unavailable; retrying is safe",
    }
    return {code: {"description": text[code], "content": _json("ErrorAnswer")} for code in codes}


def document() -> dict[str, Any]:
    """The document, each keyed operation with the key scopes that may call it (``x-scopes``)."""
    from nudgeloop.resources import catalog  # the catalog renders this document's routes: imported when used

    found = _document()
    for route in catalog().routes:
        if route.api_key_required:
            found["paths"][route.path][route.method.lower()]["x-scopes"] = list(admitted(route.scopes))
    return found


def _tracking() -> dict[str, Any]:
    """The Segment-compatible tracking routes (docs/integrations.md): the write key in HTTP Basic."""
    from nudgeloop.domain.segment import TYPES
    from nudgeloop.services.tracking import MAX_BODY_BYTES, MAX_MESSAGES

    basic: list[dict[str, list[str]]] = [{"writeKey": []}]
    limits = f"{MAX_MESSAGES:,} messages, {MAX_BODY_BYTES / 1e6:g} MB"
    answer = {
        "type": "object",
        "properties": {
            "success": {"const": True},
            "accepted": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "skipped": {"type": "array", "items": {"type": "object"}},
            "dropped": {"type": "array", "items": {"type": "object"}},
        },
    }
    responses = {
        "200": {
            "description": "taken (messages that cannot be mapped are skipped and named)",
            "content": {"application/json": {"schema": answer}},
        },
        **_errors("400", "401", "403", "413", "503"),
    }
    message = {"type": "object", "description": "a Segment message (https://segment.com/docs/connections/spec/)"}
    paths = {
        "/segment/v1/batch": {
            "post": {
                "summary": f"Segment/RudderStack batch (up to {limits}; gzip accepted)",
                "security": basic,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["batch"],
                                "properties": {"batch": {"type": "array", "items": message}},
                            }
                        }
                    },
                },
                "responses": responses,
            }
        }
    }
    for kind in TYPES:
        paths[f"/segment/v1/{kind}"] = {
            "post": {
                "summary": f"One Segment {kind} message",
                "security": basic,
                "requestBody": {"required": True, "content": {"application/json": {"schema": message}}},
                "responses": responses,
            }
        }
    return paths


def _document() -> dict[str, Any]:
    customer_id = {"name": "customer_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 128}}
    token = {"name": "token", "in": "query", "required": True, "schema": {"type": "string"}}
    voucher = {"name": "code", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
    pool = {"name": "pool", "in": "path", "required": True, "schema": {"type": "string", "pattern": POOL_NAME}}
    audience = {
        "name": "audience_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": AUDIENCE_ID},
    }
    keyed: list[dict[str, list[str]]] = [{"apiKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Nudgeloop API",
            "version": __version__,
            "description": "Responses in: events from every touchpoint; customers out; one-click unsubscribe.",
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "writeKey": {"type": "http", "scheme": "basic", "description": "an ingest key as the user name, no password"},
            },
        },
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Send up to 100 events",
                    "security": keyed,
                    "requestBody": {"required": True, "content": _json("EventBatch")},
                    "responses": {
                        "202": {"description": "stored (see the counts)", "content": _json("BatchAnswer")},
                        **_errors("400", "403", "413", "503"),
                    },
                }
            },
            "/v1/customers/{customer_id}": {
                "get": {
                    "summary": "A customer: profile, step, consents, aggregates, CLV, mails",
                    "security": keyed,
                    "parameters": [customer_id],
                    "responses": {
                        "200": _object("the customer"),
                        **_errors("403", "404"),
                    },
                },
                "put": {
                    "summary": "Change the profile (recorded as customer.upserted)",
                    "security": keyed,
                    "parameters": [customer_id],
                    "requestBody": {"required": True, "content": _json("CustomerUpserted")},
                    "responses": {
                        "202": {
                            "description": "accepted",
                            "content": {
                                "application/json": {"schema": {"type": "object", "properties": {"event_id": {"type": "string"}}}}
                            },
                        },
                        **_errors("400", "403", "413", "503"),
                    },
                },
                "delete": {
                    "summary": "Erase the person (GDPR erasure): their addresses are suppressed (by hash) at once; their "
                    "journeys are stopped and they are deleted from every table and S3 object of the stack in two passes "
                    "(the second once the next audience snapshot is current). Asking again answers the erasure as it stands.",
                    "security": keyed,
                    "parameters": [customer_id],
                    "responses": {
                        "202": _object("the erasure: erasure_id, status, last_copy_gone_by (GET /v1/erasures/{erasure_id})"),
                        "200": _object("an erasure of this id finished before, and nothing is held again"),
                        **_errors("403", "404", "503"),
                    },
                },
            },
            "/v1/erasures/{erasure_id}": {
                "get": {
                    "summary": "Where an erasure stands: running, awaiting_snapshot, complete or failed; what was erased, "
                    "and when the last copy out of reach of any API (backups, Step Functions history, logs) is gone",
                    "security": keyed,
                    "parameters": [
                        {"name": "erasure_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40}}
                    ],
                    "responses": {"200": _object("the erasure"), **_errors("403", "404")},
                }
            },
            "/v1/customers/{customer_id}/export": {
                "get": {
                    "summary": "Everything held about one person (GDPR access and portability): profile, consents with "
                    "their statements, step history, mails with links to the archived messages, vouchers, CLV, audiences, "
                    f"events (the first {EVENTS_INLINE}; events_next pages the rest)",
                    "security": keyed,
                    "parameters": [customer_id],
                    "responses": {"200": _object("the document"), **_errors("403", "404")},
                }
            },
            "/v1/customers/{customer_id}/events": {
                "get": {
                    "summary": "The customer's history, newest first",
                    "security": keyed,
                    "parameters": [
                        customer_id,
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _object("a page"),
                        **_errors("400", "403"),
                    },
                }
            },
            "/v1/analytics/campaigns": {
                "get": {
                    "summary": "The campaigns (id, name, enabled), for reports",
                    "security": keyed,
                    "responses": {
                        "200": _object("the campaigns"),
                        **_errors(
                            "403",
                        ),
                    },
                }
            },
            "/v1/analytics/campaigns/{campaign_id}": {
                "get": {
                    "summary": "A campaign's figures: entries, per step and in total sent, capped, suppressed, "
                    "delivered, opened, clicked, bounced, complained, unsubscribed, converted, revenue and rates; "
                    "uplift against the holdout group with a 95% confidence interval",
                    "security": keyed,
                    "parameters": [
                        {
                            "name": "campaign_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"},
                        }
                    ],
                    "responses": {
                        "200": _object("the figures"),
                        **_errors("400", "403"),
                    },
                }
            },
            "/v1/campaigns/{campaign_id}/mails": {
                "get": {
                    "summary": "A campaign's sent mails, newest first, each with a 15-minute link to the archived message",
                    "security": keyed,
                    "parameters": [
                        {"name": "campaign_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _object("one page: mails (message_id, sent_at, customer_id, step_id, archived) and next"),
                        **_errors("400", "403"),
                    },
                }
            },
            "/v1/audiences": {
                "get": {
                    "summary": "The saved audiences: id and when the newest version was uploaded",
                    "security": keyed,
                    "responses": {"200": _object("audiences"), **_errors("403")},
                }
            },
            "/v1/audiences/{audience_id}": {
                "put": {
                    "summary": "Save an audience definition (YAML or JSON, docs/audience.schema.json) as its newest "
                    "version; refused with the line and field when it would not evaluate",
                    "security": keyed,
                    "parameters": [audience, {"name": "x-uploaded-by", "in": "header", "schema": {"type": "string"}}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/yaml": {"schema": {"type": "string"}},
                            "application/json": {"schema": {"$ref": REF.format(model="Audience")}},
                        },
                    },
                    "responses": {"200": _object("id, name, version and stored_at"), **_errors("400", "403")},
                },
                "get": {
                    "summary": "A saved audience: its newest definition (as uploaded and as read) and every version",
                    "security": keyed,
                    "parameters": [audience],
                    "responses": {"200": _object("the audience"), **_errors("403", "404")},
                },
            },
            "/v1/audiences/{audience_id}/members": {
                "get": {
                    "summary": "A saved audience's members, evaluated by Athena over the current audience snapshot: "
                    "the count, when it was evaluated, how old the state it read is, and a page of members each with "
                    "the values that qualified them",
                    "security": keyed,
                    "parameters": [
                        audience,
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "refresh", "in": "query", "schema": {"type": "boolean"}},
                    ],
                    "responses": {
                        "200": _object("count, evaluated_at, state_as_of, version, members, next"),
                        "202": _object("the evaluation is running; ask again after Retry-After seconds"),
                        "410": _object("the cursor's evaluation was replaced by a newer one; start again"),
                        "502": _object("the evaluation failed (the reason); the next request starts another"),
                        **_errors("400", "403", "404", "503"),
                    },
                },
            },
            "/v1/audiences/{audience_id}/exports": {
                "get": {
                    "summary": "The audience's exports and daily publications, newest first: each one's request, status, "
                    "rows and (for a publication) its id and day; the download links are in each export's own answer",
                    "security": keyed,
                    "parameters": [
                        audience,
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": _object("exports, next"), **_errors("400", "403", "404")},
                },
                "post": {
                    "summary": "Export a saved audience's members with chosen columns (or groups of them) as CSV or JSON lines: "
                    "Athena selects them over the current audience snapshot, the export function writes the file",
                    "security": keyed,
                    "parameters": [audience],
                    "requestBody": _body(
                        [],
                        {
                            "format": {"type": "string", "enum": list(export_rules.FORMATS), "default": "csv"},
                            "columns": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "string", "enum": [*export_rules.COLUMNS, *export_rules.GROUPS]},
                                "default": list(export_rules.DEFAULT_COLUMNS),
                            },
                        },
                    ),
                    "responses": {
                        "202": _object("the export, running; its Location to ask after Retry-After seconds"),
                        **_errors("400", "403", "404", "503"),
                    },
                },
            },
            "/v1/audiences/{audience_id}/exports/{export_id}": {
                "get": {
                    "summary": "An export: running, failed (why) or succeeded (rows, bytes, a download link valid for an hour)",
                    "security": keyed,
                    "parameters": [audience, {"name": "export_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _object("the export, ended: status, rows, bytes, download.url, download.expires_at or reason"),
                        "202": _object("the export is running; ask again after Retry-After seconds"),
                        **_errors("403", "404"),
                    },
                },
            },
            "/v1/broadcasts": {
                "post": {
                    "summary": "A newsletter to a saved audience's members, now or at send_at, each at most once "
                    "(broadcast_id is the idempotency key); with test_to, one test mail to that address instead",
                    "security": keyed,
                    "requestBody": _body(
                        ["broadcast_id", "audience_id", "template"],
                        {
                            "broadcast_id": {"type": "string", "pattern": broadcast_rules.BROADCAST_ID},
                            "audience_id": {"type": "string", "pattern": AUDIENCE_ID},
                            "template": {"type": "string"},
                            "consent_purpose": {"type": "string", "enum": ["newsletter", "marketing", "service"]},
                            "send_at": {"type": "string", "format": "date-time"},
                            "test_to": {"type": "string", "format": "email"},
                        },
                    ),
                    "responses": {
                        "202": _object("the broadcast, recorded and started (or scheduled); its Location"),
                        "200": _object("the same request again: the broadcast as it stands; or the test send"),
                        **_errors("400", "403", "404", "409"),
                    },
                },
            },
            "/v1/broadcasts/{broadcast_id}": {
                "get": {
                    "summary": "A broadcast: scheduled, selecting, sending (batches by state) or done; members and the mails "
                    "sent, skipped and capped so far",
                    "security": keyed,
                    "parameters": [{"name": "broadcast_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": _object("the broadcast"), **_errors("403", "404")},
                },
            },
            "/v1/vouchers/{code}": {
                "get": {
                    "summary": "A voucher a mail carried: its state (issued, redeemed, expired), owner, step and dates",
                    "security": keyed,
                    "parameters": [voucher],
                    "responses": {
                        "200": _object("the voucher"),
                        **_errors("403", "404"),
                    },
                }
            },
            "/v1/vouchers/{code}/redeem": {
                "post": {
                    "summary": "Redeem a voucher for an order, once; the same order again gets the same answer",
                    "security": keyed,
                    "parameters": [voucher],
                    "requestBody": _body(["order_id"], {"order_id": {"type": "string", "minLength": 1, "maxLength": 128}}),
                    "responses": {
                        "200": _object("redeemed by this order (now or before)"),
                        **_errors("400", "403", "404", "409"),
                    },
                }
            },
            "/v1/voucher-pools/{pool}/codes": {
                "post": {
                    "summary": "Add the shop's own voucher codes to a pool (send steps with voucher_pool take them), each once",
                    "security": keyed,
                    "parameters": [pool],
                    "requestBody": _body(
                        ["codes"],
                        {
                            "codes": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": MAX_POOL_UPLOAD,
                                "items": {"type": "string", "pattern": CODE.pattern},
                            }
                        },
                    ),
                    "responses": {
                        "200": _object("added, already_in_pool and available (codes left)"),
                        **_errors("400", "403"),
                    },
                }
            },
            "/v1/voucher-pools/{pool}": {
                "get": {
                    "summary": "How many codes of a pool are left",
                    "security": keyed,
                    "parameters": [pool],
                    "responses": {
                        "200": _object("pool and available"),
                        **_errors("403", "404"),
                    },
                }
            },
            "/v1/analytics/staircase": {
                "get": {
                    "summary": "Customers per step at the end of each day and the day's migrations between steps",
                    "security": keyed,
                    "parameters": [
                        {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                        {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                    ],
                    "responses": {
                        "200": _object("one row per day"),
                        **_errors("400", "403"),
                    },
                }
            },
            "/v1/analytics/deliverability": {
                "get": {
                    "summary": "Mails sent, bounced and complained about in the last 24 hours, the rates, the circuit "
                    "breaker's thresholds, and whether marketing sending is paused (and why)",
                    "security": keyed,
                    "responses": {
                        "200": _object("the figures"),
                        **_errors(
                            "403",
                        ),
                    },
                }
            },
            "/v1/keys": {
                "post": {
                    "summary": "Create an API key of a scope (ingest, read or admin); its value is in this answer only",
                    "security": keyed,
                    "requestBody": _body(
                        ["name", "scope"],
                        {
                            "name": {"type": "string", "pattern": KEY_NAME},
                            "scope": {"type": "string", "enum": list(SCOPES)},
                        },
                    ),
                    "responses": {"201": _object("the key: key_id, name, scope and its value"), **_errors("400", "403")},
                },
                "get": {
                    "summary": "The stack's API keys: id, name, scope, enabled, created (never their values)",
                    "security": keyed,
                    "responses": {"200": _object("the keys"), **_errors("403")},
                },
            },
            "/v1/keys/{key_id}": {
                "delete": {
                    "summary": "Revoke an API key (API Gateway refuses it from then on); a key cannot revoke itself",
                    "security": keyed,
                    "parameters": [{"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": _object("the revoked key"), **_errors("403", "404", "409")},
                },
            },
            "/v1/audit": {
                "get": {
                    "summary": "The audit trail: changes to one object (object=kind:id) or concerning one customer "
                    "(customer=id), newest first: who (the API key's id or the uploader), what, when",
                    "security": keyed,
                    "parameters": [
                        {
                            "name": "object",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "pattern": OBJECT.pattern},
                        },
                        {"name": "customer", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 128}},
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        },
                        {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
                    ],
                    "responses": {"200": _object("entries and the next page's cursor"), **_errors("400", "403")},
                }
            },
            "/v1/webhooks/shopify": {
                "post": {
                    "summary": "Shopify orders/create webhook (HMAC-signed; mapped onto order.completed)",
                    "parameters": [
                        {"name": "X-Shopify-Hmac-Sha256", "in": "header", "required": True, "schema": {"type": "string"}},
                        {"name": "X-Shopify-Topic", "in": "header", "required": True, "schema": {"const": "orders/create"}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object", "description": "a Shopify Order"}}},
                    },
                    "responses": {
                        "200": {"description": "stored (see the counts)", "content": _json("BatchAnswer")},
                        **_errors("400", "401", "413", "503"),
                    },
                }
            },
            **_tracking(),
            "/v1/unsubscribe": {
                "get": {
                    "summary": "Preference page behind the unsubscribe link (changes nothing)",
                    "parameters": [token],
                    "responses": {
                        "200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
                        **_errors("400", "403"),
                    },
                },
                "post": {
                    "summary": "One-click unsubscribe (RFC 8058); all=1 opts out of every marketing purpose",
                    "parameters": [
                        token,
                        {"name": "all", "in": "query", "required": False, "schema": {"type": "string", "enum": ["1"]}},
                    ],
                    "responses": {"200": {"description": "opted out"}, **_errors("400", "403")},
                },
            },
            "/v1/consent/confirm": {
                "get": {
                    "summary": "Double opt-in: confirm a pending sign-up (link in the confirmation mail, 7 days)",
                    "parameters": [token],
                    "responses": {
                        "200": {"description": "confirmed (HTML)", "content": {"text/html": {"schema": {"type": "string"}}}},
                        "409": {"description": "a newer statement replaced this request (HTML)"},
                        **_errors("400", "403"),
                    },
                }
            },
            "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
    }
