"""The send path's deliverability guarantees: suppression, SES error classes, the maximum send
rate, reservations in doubt, the sent-message archive and template versions."""

from __future__ import annotations

from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from nudgeloop import clock
from tests.conftest import consent, get_customer, order, post_events, upsert

ADDRESS = "c1@customers.example"


def welcome_customer(stack: Any, cid: str = "c1") -> None:
    post_events(stack, [upsert(cid), consent(cid), order(cid, "o1")])
    stack.settle()


def request(execution: str = "x1", step: str = "welcome", **extra: Any) -> dict[str, Any]:
    return {
        "customer_id": "c1",
        "campaign_id": "welcome",
        "step_id": step,
        "template": "welcome",
        "execution": execution,
        "consent_purpose": "newsletter",
        **extra,
    }


def send(stack: Any, req: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    from nudgeloop.services import sender

    with stack.aws_lock:
        return sender.send_step(
            req,
            templates_bucket=stack.res.buckets["templates"],
            configuration_set="nudgeloop-mail",
            sender="Shop <news@shop.example>",
            public_base_url="https://api.example",
            signing_key=b"k" * 32,
            archive_bucket=stack.res.buckets["data"],
            **kwargs,
        )


class FakeSes:
    """An SES client whose SendEmail fails with the given error code (or a lost connection)."""

    def __init__(self, code: str | None) -> None:
        self.code = code
        self.calls = 0

    def send_email(self, **_kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.code is None:
            raise ConnectionError("connection reset after the request was written")
        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "SendEmail")


@pytest.fixture
def ses(monkeypatch: pytest.MonkeyPatch) -> Any:
    from nudgeloop.services import sender

    real = sender.client
    holder: dict[str, FakeSes] = {}

    def fake_client(name: str) -> Any:
        return holder["ses"] if name == "sesv2" and "ses" in holder else real(name)

    monkeypatch.setattr(sender, "client", fake_client)
    return holder


def test_a_hard_bounce_suppresses_the_address_for_every_purpose_without_changing_consent(stack) -> None:
    from nudgeloop.dal import deliverability

    welcome_customer(stack)
    stack.emit_ses_event(stack.outbox()[0]["message_id"], "Bounce", {"bounceType": "Permanent"})
    stack.settle()
    assert deliverability.suppression(ADDRESS) == "hard_bounce"
    assert get_customer(stack, "c1")[1]["consents"]["newsletter"]["status"] == "opt_in"
    stack.advance(timedelta(days=4))
    assert len(stack.outbox()) == 1  # the follow-up is not sent
    assert send(stack, request("x2", consent_purpose="service"))["reason"] == "suppressed:hard_bounce"


def test_a_soft_bounce_suppresses_nothing(stack) -> None:
    from nudgeloop.dal import deliverability

    welcome_customer(stack)
    stack.emit_ses_event(stack.outbox()[0]["message_id"], "Bounce", {"bounceType": "Transient"})
    stack.settle()
    assert deliverability.suppression(ADDRESS) is None


def test_a_complaint_suppresses_the_address_and_opts_out_of_marketing(stack) -> None:
    from nudgeloop.dal import deliverability

    welcome_customer(stack)
    stack.emit_ses_event(stack.outbox()[0]["message_id"], "Complaint")
    stack.settle()
    assert deliverability.suppression(ADDRESS) == "complaint"
    consents = get_customer(stack, "c1")[1]["consents"]
    assert consents["newsletter"]["status"] == consents["marketing"]["status"] == "opt_out"


@pytest.mark.parametrize(
    "code",
    ["MessageRejected", "SendingPausedException", "AccountSuspendedException", "MailFromDomainNotVerifiedException"],
)
def test_refusals_are_not_retried_and_stop_the_campaign_step_with_the_reason(stack, ses, code: str) -> None:
    from nudgeloop.dal import deliverability, ledger

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    ses["ses"] = FakeSes(code)
    assert send(stack, request("x1")) == {"status": "failed", "reason": code}
    assert ledger.ledger_entry("c1", "welcome#welcome#x1").status == "failed"
    assert deliverability.step_stop("welcome", "welcome") == code
    assert send(stack, request("x2")) == {"status": "skipped", "reason": f"step_stopped:{code}"}
    assert ses["ses"].calls == 1  # the second customer's mail never reached SES
    with stack.aws_lock:
        deliverability.resume_step("welcome", "welcome")
    del ses["ses"]
    assert send(stack, request("x3"))["status"] == "sent"


def test_a_bad_request_fails_that_mail_only(stack, ses) -> None:
    from nudgeloop.dal import deliverability

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    ses["ses"] = FakeSes("BadRequestException")
    assert send(stack, request("x1")) == {"status": "failed", "reason": "BadRequestException"}
    assert deliverability.step_stop("welcome", "welcome") is None


def test_throttling_releases_the_reservation_for_a_retry(stack, ses) -> None:
    from nudgeloop.services.sender import SendThrottled

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    ses["ses"] = FakeSes("TooManyRequestsException")
    with pytest.raises(SendThrottled):
        send(stack, request("x1"))
    del ses["ses"]
    assert send(stack, request("x1"))["status"] == "sent"  # the journey's retry


def test_the_maximum_send_rate_holds_across_senders(stack) -> None:
    from nudgeloop.services.sender import SendThrottled

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    assert send(stack, request("r1"), max_send_rate=2)["status"] == "sent"
    assert send(stack, request("r2"), max_send_rate=2)["status"] == "sent"
    with pytest.raises(SendThrottled):
        send(stack, request("r3"), max_send_rate=2)  # the third in the same second
    stack.clock.advance(timedelta(seconds=1))
    assert send(stack, request("r3"), max_send_rate=2)["status"] == "sent"  # released, sent later


def test_a_crash_between_reservation_and_send_is_never_resent_and_is_reported_in_doubt(stack, ses) -> None:
    from nudgeloop.dal import ledger

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    ses["ses"] = FakeSes(None)  # the request went out; the answer never came
    with pytest.raises(ConnectionError):
        send(stack, request("x1"))
    del ses["ses"]
    assert send(stack, request("x1")) == {"status": "duplicate", "ledger": "reserved"}  # the retry
    with stack.aws_lock:
        assert ledger.in_doubt(clock.now()) == []  # not yet: it may still be completing
        doubtful = ledger.in_doubt(clock.now() + timedelta(minutes=16))
        assert [(i.customer_id, i.key) for i in doubtful] == [("c1", "welcome#welcome#x1")]
        assert ledger.settle_in_doubt("c1", "welcome#welcome#x1", sent=False, note="not in SES's sending history")
        assert ledger.in_doubt(clock.now() + timedelta(minutes=16)) == []
    assert send(stack, request("x1"))["status"] == "duplicate"  # still never sent twice


def test_the_in_doubt_window_is_the_operators_setting(stack, ses) -> None:
    from nudgeloop.dal import ledger

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    ses["ses"] = FakeSes(None)
    with pytest.raises(ConnectionError):
        send(stack, request("x2"), in_doubt_after_s=120)
    del ses["ses"]
    with stack.aws_lock:
        assert ledger.in_doubt(clock.now() + timedelta(seconds=119)) == []
        assert [i.key for i in ledger.in_doubt(clock.now() + timedelta(seconds=121))] == ["welcome#welcome#x2"]


def test_the_in_doubt_sweep_runs_when_a_reservation_falls_into_doubt_even_with_no_timer_due(stack, ses) -> None:
    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    ses["ses"] = FakeSes(None)
    with pytest.raises(ConnectionError):
        send(stack, request("x1"))
    del ses["ses"]
    woken = stack.counters.get("journey_wake", 0)
    stack.advance(timedelta(minutes=20))  # no journey waits: only the doubt is due
    assert stack.counters.get("journey_wake", 0) == woken + 1
    stack.advance(timedelta(days=2))  # reported once when it fell into doubt, not every minute after
    assert stack.counters.get("journey_wake", 0) == woken + 1


def test_sent_mails_are_archived_with_their_template_versions(stack) -> None:
    import boto3

    from nudgeloop.dal import ledger

    welcome_customer(stack)
    entry = next(e for e in ledger.ledger("c1") if e.status == "sent")
    data = dict(entry.data or {})
    assert set(data["template_versions"]) >= {"welcome/subject.txt", "welcome/body.mjml", "welcome/body.txt"}
    with stack.aws_lock:
        obj = boto3.client("s3").get_object(Bucket=stack.res.buckets["data"], Key=data["archive_key"])
    raw = BytesParser(policy=policy.default).parsebytes(obj["Body"].read())
    assert raw["To"] == ADDRESS and raw["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert data["archive_key"].startswith("sent/dt=2026-01-01/") and "c1" not in data["archive_key"]


def test_a_broken_template_fails_the_mail_with_the_reason_instead_of_sending_it(stack) -> None:
    import boto3

    from nudgeloop.services import sender

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    with stack.aws_lock:
        boto3.client("s3").put_object(
            Bucket=stack.res.buckets["templates"], Key="templates/welcome/body.txt", Body=b"{{ customer.shoe_size }}"
        )
    sender._template_cache.clear()
    result = send(stack, request("x1"))
    assert result["status"] == "failed" and "shoe_size" in result["reason"]
    sender._template_cache.clear()


def test_order_and_voucher_reach_the_template(stack) -> None:
    import boto3

    from nudgeloop.services import sender

    welcome_customer(stack)
    with stack.aws_lock:
        boto3.client("s3").put_object(
            Bucket=stack.res.buckets["templates"],
            Key="templates/welcome/body.txt",
            Body=b"{{ order.order_id }} {{ voucher }} {{ recommendations.we_recommend|length }}",
        )
    sender._template_cache.clear()
    send(stack, request("v1", step="again", voucher_prefix="WELCOME"))
    sender._template_cache.clear()
    text = stack.outbox()[-1]["text"]
    from nudgeloop.dal import vouchers
    from nudgeloop.domain.vouchers import code as voucher_code

    code = voucher_code(b"k" * 32, "WELCOME", "c1", "welcome", "again", "v1")
    assert text.strip() == f"o1 {code} 0" and code.startswith("WELCOME-") and len(code) == 18
    with stack.aws_lock:
        stored = vouchers.get(code)
    assert stored is not None and (stored.customer_id, stored.step_id, stored.state(stored.issued_at)) == (
        "c1",
        "again",
        "issued",
    )
    assert (stored.expires_at - stored.issued_at).days == 30  # the step's default validity
    other = voucher_code(b"k" * 32, "WELCOME", "c1", "welcome", "again", "v2")
    assert other != code  # one per recipient and occurrence


def test_an_uploaded_template_is_checked_and_its_status_recorded(stack) -> None:
    stack.settle()  # the shipped templates' own checks
    assert stack.template_status("welcome")["status"] == "valid"
    stack.put_template("welcome/body.txt", b"{{ salutation }}\n{{ customer.shoe_size }}")
    stack.settle()
    status = stack.template_status("welcome")
    assert status["status"] == "invalid"
    assert status["problems"][0]["file"] == "welcome/body.txt" and status["problems"][0]["line"] == 2
    stack.put_template("welcome/body.txt", b"{{ salutation }}")
    stack.settle()
    assert stack.template_status("welcome")["status"] == "valid"


def test_a_shared_layout_change_rechecks_every_template(stack) -> None:
    stack.settle()
    stack.put_template("layouts/base.html", b"{% block content %}{% endblock %}{{ unknown_footer }}")
    stack.settle()
    assert {stack.template_status(n)["status"] for n in ("winback", "welcome-followup", "birthday")} == {"invalid"}


def test_preview_renders_for_a_real_customer_in_their_language(stack) -> None:
    from nudgeloop_cli.local.runtime import LocalError

    post_events(stack, [upsert("de1", locale="de-AT", gender="female"), order("de1", "o1")])
    stack.settle()
    shown = stack.preview("welcome", "de1")
    assert shown["subject"] == "Liebe Ada, willkommen bei uns!"
    assert "welcome/de/subject.txt" in shown["versions"] and "welcome/body.mjml" in shown["versions"]
    assert "Liebe Ada" in shown["html"] and "Bestellung" in shown["text"]
    with pytest.raises(LocalError):
        stack.preview("welcome", "nobody")


def test_the_frequency_cap_records_marketing_mails_over_the_limit_and_spares_service_mails(stack) -> None:
    from nudgeloop.dal import ledger

    post_events(stack, [upsert("c1"), consent("c1")])
    stack.settle()
    cap = {"frequency_cap": (3, 7)}
    assert [send(stack, request(f"f{i}"), **cap)["status"] for i in range(3)] == ["sent"] * 3
    assert send(stack, request("f3"), **cap) == {"status": "capped", "reason": "frequency_cap:3/7d"}
    assert ledger.ledger_entry("c1", "welcome#welcome#f3").status == "capped"
    assert send(stack, request("f3"), **cap)["status"] == "duplicate"  # recorded: not sent later
    assert send(stack, request("s1", consent_purpose="service"), **cap)["status"] == "sent"  # exempt
    stack.clock.advance(timedelta(days=7, seconds=1))
    assert send(stack, request("f4"), **cap)["status"] == "sent"  # the window moved on


def test_a_template_upload_the_check_finds_invalid_is_not_used_its_last_valid_versions_are(stack) -> None:
    from tests.conftest import order

    stack.settle()  # the shipped templates are checked
    subject = (Path(__file__).resolve().parents[2] / "templates/welcome/subject.txt").read_text()
    stack.put_template("welcome/subject.txt", b"{{ customer.first_name ")  # a syntax error
    stack.settle()
    assert stack.template_status("welcome")["status"] == "invalid"
    post_events(stack, [upsert("c1"), consent("c1"), order("c1", "o1")])
    stack.settle()
    mails = stack.outbox()
    assert [m["step_id"] for m in mails] == ["welcome"]
    assert "{{" in subject and mails[0]["subject"].startswith("Hi Ada")  # rendered from the last valid version


def test_a_file_added_since_the_last_valid_check_is_not_sent_while_the_template_is_invalid(stack) -> None:
    from tests.conftest import order

    stack.settle()
    # a German body added next to the valid default, broken, marks the template invalid
    stack.put_template("welcome/de/body.mjml", b"<mjml><mj-body><mj-section></mj-body></mjml>")
    stack.settle()
    status = stack.template_status("welcome")
    assert status["status"] == "invalid" and {p["file"] for p in status["problems"]} == {"welcome/de/body.mjml"}
    post_events(stack, [upsert("de1", locale="de-AT"), consent("de1"), order("de1", "o1")])
    stack.settle()
    from nudgeloop.dal import ledger

    (mail,) = stack.outbox()
    assert mail["subject"].startswith("Hallo Ada")  # the German subject, valid before, is still sent
    (entry,) = [e for e in ledger.ledger("de1") if e.status == "sent"]
    versions = dict(entry.data or {})["template_versions"]
    assert "welcome/body.mjml" in versions and "welcome/de/body.mjml" not in versions  # the default body, not the new one
