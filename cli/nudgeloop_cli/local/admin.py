"""The product's local admin routes (``/_local/...``, never deployed): what the operator
commands do against AWS (push templates and campaigns, import a file, preview, simulate,
redrive), done on the local stack by calling the same services."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from nudgeloop import clock
from nudgeloop.adapters import aws
from nudgeloop.domain.journey_contract import SendRequest
from nudgeloop.domain.vouchers import Voucher
from nudgeloop.services import redrive
from nudgeloop.specs import QueueSpec

from .base import REGION, ROOT, LocalError

if TYPE_CHECKING:
    from .runtime import LocalStack


class Admin:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def push_directory(self, bucket_key: str, source: Path, prefix: str) -> int:
        """Upload every file below ``source`` to ``prefix`` in one of the stack's buckets."""
        assert self.stack.res is not None
        s3 = aws.client("s3")
        count = 0
        for path in sorted(source.rglob("*")):
            if path.is_file():
                key = prefix + path.relative_to(source).as_posix()
                s3.put_object(Bucket=self.stack.res.buckets[bucket_key], Key=key, Body=path.read_bytes())
                count += 1
        return count

    def load_examples(self) -> None:
        """The shipped example templates and campaigns, as `templates push` / `campaigns push` do."""
        self.push_directory("templates", ROOT / "templates", "templates/")
        self.push_directory("campaigns", ROOT / "campaigns" / "examples", "campaigns/")
        self.push_directory("campaigns", ROOT / "catalog", "catalog/")

    def put_import(self, name: str, body: bytes) -> dict[str, str]:
        """Drop a file under the data bucket's imports/ (what `nudgeloop import` does against a
        deployed stack); S3's notification has it imported. Returns its key and version."""
        from nudgeloop.layout import IMPORT_PREFIX

        assert self.stack.res is not None
        key = IMPORT_PREFIX + name
        with self.stack.aws_lock:
            put = aws.client("s3").put_object(Bucket=self.stack.res.buckets["data"], Key=key, Body=body)
        return {"key": key, "version": str(put["ETag"]).strip('"')}

    def import_status(self, key: str, version: str) -> dict[str, Any]:
        """Where an import file stands: its checkpointed progress, and its report once done."""
        from nudgeloop.services import bulk

        assert self.stack.res is not None
        with self.stack.aws_lock:
            return bulk.status(aws.client("s3"), self.stack.res.buckets["data"], key, version)

    def put_template(self, path: str, body: bytes) -> None:
        """Upload one template file (what `templates push` does); the S3 notification has it checked."""
        assert self.stack.res is not None
        with self.stack.aws_lock:
            aws.client("s3").put_object(Bucket=self.stack.res.buckets["templates"], Key=f"templates/{path}", Body=body)

    def _context(self, name: str, customer_id: str | None) -> tuple[dict[str, Any], str | None]:
        """What a send would render ``name`` with for a real customer (or the sample context
        validation uses), and their locale. Called under the AWS lock."""
        from nudgeloop.dal import customer_store, event_log
        from nudgeloop.domain import mail
        from nudgeloop.services import sender

        if customer_id is None:
            return mail.sample_context(), None
        customer = customer_store.get_customer(customer_id)
        if customer is None:
            raise LocalError(f"no customer {customer_id}")
        request = SendRequest(
            customer_id=customer_id, campaign_id="preview", step_id="preview", template=name, execution="preview"
        )
        context = sender.personal_context(
            customer,
            event_log.order_facts(customer_id),
            request,
            unsubscribe="https://preview.invalid/unsubscribe",
            # where a step's code goes (a sample, never stored: a preview issues nothing)
            voucher=Voucher("PREVIEW-0000", customer_id, "preview", "preview", clock.now(), clock.now() + timedelta(days=30)),
        )
        return context, customer.locale

    def test_send(self, name: str, to: str, customer_id: str | None) -> dict[str, Any]:
        """``templates test-send``: the template as a customer (or the sample) would get it, to ``to``."""
        from jinja2 import TemplateError

        from nudgeloop.services import sender

        assert self.stack.res is not None
        with self.stack.aws_lock:
            context, locale = self._context(name, customer_id)
            try:
                return sender.send_test(self.stack.res.buckets["templates"], name, to, context, locale, self.stack.sender)
            except TemplateError as exc:
                raise LocalError(f"{type(exc).__name__}: {exc}") from exc

    def preview(self, name: str, customer_id: str) -> dict[str, Any]:
        """Render a template for a real customer of this stack, exactly as a send would (no mail)."""
        from jinja2 import TemplateError

        from nudgeloop.domain import mail
        from nudgeloop.services import sender

        assert self.stack.res is not None
        with self.stack.aws_lock:
            context, locale = self._context(name, customer_id)
            try:
                out = mail.render(sender.template_fetch(self.stack.res.buckets["templates"], cached=False), name, context, locale)
            except TemplateError as exc:
                raise LocalError(f"{type(exc).__name__}: {exc}") from exc
            return {"subject": out.subject, "html": out.html, "text": out.text, "versions": out.versions}

    def put_campaign(self, name: str, body: bytes, by: str | None = None) -> None:
        """Upload one campaign definition (what `campaigns push` does), naming who did."""
        from nudgeloop.services.campaign_store import UPLOADED_BY

        assert self.stack.res is not None
        metadata = {UPLOADED_BY: by} if by else {}
        with self.stack.aws_lock:
            aws.client("s3").put_object(
                Bucket=self.stack.res.buckets["campaigns"], Key=f"campaigns/{name}", Body=body, Metadata=metadata
            )

    def campaign_history(self, campaign_id: str) -> list[dict[str, Any]]:
        from nudgeloop.services import campaign_store

        assert self.stack.res is not None
        with self.stack.aws_lock:
            return campaign_store.history(self.stack.res.buckets["campaigns"], campaign_id)

    def webhook_secret(self, endpoint_id: str) -> dict[str, str]:
        from nudgeloop.services import webhooks

        with self.stack.aws_lock:
            return {
                "endpoint": endpoint_id,
                "secret": webhooks.endpoint_secret(self.stack.catalog.signing_secret_name, endpoint_id),
            }

    def webhook_deliveries(self, endpoint_id: str, limit: int) -> list[dict[str, Any]]:
        from nudgeloop.services import webhooks

        with self.stack.aws_lock:
            return webhooks.delivery_report(endpoint_id, limit)

    def campaigns(self) -> list[dict[str, Any]]:
        from nudgeloop.services import campaign_store

        assert self.stack.res is not None
        with self.stack.aws_lock:
            return campaign_store.listing(self.stack.res.buckets["campaigns"])

    def resume_marketing(self) -> dict[str, Any]:
        """``nudgeloop sends resume-marketing --local``: lift a reputation pause."""
        from nudgeloop.services import reputation

        with self.stack.aws_lock:
            lifted = reputation.resume(self.stack.catalog.configuration_set, "local:operator")
        return {"resumed": True, "was_paused_for": (lifted or {}).get("reason")}

    def simulate(self, text: str, days: int) -> dict[str, Any]:
        """Forecast a campaign definition against this stack's data (``campaigns simulate``);
        raises ``InvalidCampaign`` for a definition that would be rejected on upload."""
        from nudgeloop.config import from_environ
        from nudgeloop.services import campaign_store, forecast

        campaign = campaign_store.parse(text)
        config = from_environ(self.stack.settings_env())
        window = config.window()
        with self.stack.aws_lock:
            return forecast.forecast(
                campaign,
                days,
                config.stairs(),
                default_window=window,
                frequency_cap=config.frequency_cap_limit(),
            )

    def preview_audience(self, text: str, limit: int) -> dict[str, Any]:
        """Evaluate an audience definition against this stack's data now (``audiences preview``):
        the audience tables derived from the archive and DynamoDB's exports as in AWS, the
        compiled query run by the embedded engine that stands in for Athena. Raises
        ``InvalidAudience`` for a definition that would be rejected on upload."""
        import tempfile

        from nudgeloop.services import audiences
        from nudgeloop_cli.local.audience_engine import from_stack

        audience = audiences.parse(text)
        with tempfile.TemporaryDirectory(prefix="nudgeloop-audience-") as workdir:
            engine = from_stack(self.stack, Path(workdir))
        try:
            found = audiences.evaluate(audience, engine)
        finally:
            engine.close()
        return {
            "audience": audience.id,
            "count": found.count,
            "evaluated_at": clock.iso(found.evaluated_at),
            "sample": [{"customer_id": m.customer_id, "qualified_by": m.qualified_by} for m in found.members[:limit]],
        }

    def template_status(self, name: str) -> dict[str, Any] | None:
        from nudgeloop.dal import deliverability

        with self.stack.aws_lock:
            return deliverability.template_status(name)

    def staircase(self) -> dict[str, Any]:
        """Customers per step now and today's migrations (what the report draws)."""
        from nudgeloop.dal import step_tallies

        with self.stack.aws_lock:
            today = self.stack.clock.now().date()
            return {
                "now": clock.iso(self.stack.clock.now()),
                "counts": {k: v for k, v in step_tallies.segment_counts().items() if v},
                "flows_today": step_tallies.segment_flows(today),
            }

    def redrive(self, dlq_name: str) -> dict[str, Any]:
        """What `nudgeloop dlq redrive` does in AWS: queue DLQs move back to their queue; the
        failures queue re-invokes each function with its failed stream records (from the stream
        or the archive) or its asynchronous invocation's event."""
        assert self.stack.res is not None
        with self.stack.lock, self.stack.aws_lock:
            sqs = aws.client("sqs")
            url = self.stack.res.dlq_urls.get(dlq_name)
            source = redrive.source_of(self.stack.catalog, dlq_name)
            if url is None or source is None:
                raise LocalError(f"no such dead-letter queue: {dlq_name}; known: {sorted(self.stack.res.dlq_urls)}")
            if isinstance(source, QueueSpec):
                outcome = redrive.move_back(sqs, url, self.stack.res.queue_urls[source.key])
            else:

                def invoke(function_key: str) -> redrive.Invoke:
                    def call(event: dict[str, Any]) -> dict[str, Any]:
                        try:
                            return self.stack.call(function_key, event) or {}
                        except Exception as exc:
                            return {"errorType": type(exc).__name__, "errorMessage": str(exc)}

                    return call

                streams = redrive.StreamRedrive(
                    self.stack.catalog, self.stack.pumps.streams_client(), REGION, invoke, self.stack.res.buckets["data"]
                )
                outcome = redrive.invoke_again(sqs, url, self.stack.invocations.submit_to, streams)
        self.stack.settle()
        return outcome.as_dict()

    def dlq_depths(self) -> dict[str, int]:
        with self.stack.aws_lock:
            return self._dlq_depths()

    def _dlq_depths(self) -> dict[str, int]:
        assert self.stack.res is not None
        sqs = boto3.client("sqs", region_name=REGION)
        return {
            name: int(
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                    "ApproximateNumberOfMessages"
                ]
            )
            for name, url in self.stack.res.dlq_urls.items()
        }
