"""What started a journey reaches its mail (the triggering event's properties, read by id at
send time), orders and custom events start journeys, and a trigger's property filters compare
values (judged where the values are: the bus carries names only)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.conftest import consent, post_events, upsert

ROOT = Path(__file__).resolve().parents[2]


def _enabled(name: str) -> bytes:
    return (ROOT / "campaigns" / "examples" / name).read_text().replace("enabled: false", "enabled: true").encode()


def _order(cid: str, oid: str, total: str, name: str = "Assam tea") -> dict[str, Any]:
    return {
        "event_id": f"ord-{oid}",
        "type": "order.completed",
        "customer_id": cid,
        "occurred_at": "2026-01-01T08:30:00Z",
        "properties": {
            "order_id": oid,
            "total": total,
            "currency": "EUR",
            "items": [{"sku": "TEA-1", "name": name, "category": "tea", "quantity": 2, "price": total}],
        },
    }


def test_the_order_confirmation_shows_the_order_that_started_it(stack: Any) -> None:
    stack.put_campaign("order-confirmation.yaml", _enabled("order-confirmation.yaml"))
    post_events(stack, [upsert("c1"), _order("c1", "A-1001", "19.80")])
    stack.settle()
    (mail,) = [m for m in stack.outbox() if m["campaign_id"] == "order-confirmation"]
    assert mail["subject"] == "Your order A-1001"
    assert "2 x Assam tea: 19.80 EUR" in mail["text"] and "Total: 19.80 EUR" in mail["text"]
    assert "A-1001" in mail["html"] and "Assam tea" in mail["html"]
    assert "List-Unsubscribe" not in mail["headers"]  # a service mail


def test_a_shipping_notice_shows_the_tracking_number_and_needs_one(stack: Any) -> None:
    stack.put_campaign("shipping-notice.yaml", _enabled("shipping-notice.yaml"))

    def shipped(eid: str, **props: Any) -> dict[str, Any]:
        return {"event_id": eid, "type": "custom.order_shipped", "customer_id": "c2", "occurred_at": "2026-01-01T08:45:00Z",
                "properties": props}  # fmt: skip

    post_events(stack, [upsert("c2"), shipped("s1", order_id="A-7", tracking_number="1Z999"), shipped("s2", order_id="A-8")])
    stack.settle()
    (mail,) = [m for m in stack.outbox() if m["campaign_id"] == "shipping-notice"]
    assert "Tracking number: 1Z999" in mail["text"] and "A-7" in mail["text"]


def test_the_cart_reminder_links_back_to_the_cart_with_its_items(stack: Any) -> None:
    post_events(stack, [upsert("c3"), consent("c3", purpose="marketing")])
    stack.settle()
    cart = {
        "event_id": "cart-9",
        "type": "cart.abandoned",
        "customer_id": "c3",
        "occurred_at": "2026-01-01T08:30:00Z",
        "properties": {
            "cart_id": "k-9",
            "cart_url": "https://shop.example/cart/k-9",
            "currency": "EUR",
            "items": [{"sku": "MUG-2", "name": "Blue mug", "quantity": 1, "price": "12.00"}],
        },
    }
    post_events(stack, [cart])
    stack.advance(timedelta(hours=2))
    (mail,) = [m for m in stack.outbox() if m["campaign_id"] == "cart-reminder"]
    assert "Back to your cart: https://shop.example/cart/k-9" in mail["text"] and "1 x Blue mug" in mail["text"]
    assert 'href="https://shop.example/cart/k-9"' in mail["html"]


BIG_SPENDERS = """
id: big-order-thanks
name: Thanks for a big order
mail_kind: service
consent_purpose: service
trigger:
  type: behaviour
  event: order.completed
  where:
    total: {min: 100}
reentry: every_occurrence
steps:
  - {id: thanks, type: send, template: order-confirmation}
"""


def test_a_trigger_filter_compares_the_events_values(stack: Any) -> None:
    stack.put_campaign("big-order-thanks.yaml", BIG_SPENDERS.encode())
    # another campaign on every order: the bus carries each order, naming the campaigns it is for
    stack.put_campaign("order-confirmation.yaml", _enabled("order-confirmation.yaml"))
    post_events(stack, [upsert("big"), upsert("edge"), upsert("small")])
    post_events(stack, [_order("big", "B-1", "150.00"), _order("edge", "B-2", "100.00"), _order("small", "B-3", "99.99")])
    stack.settle()
    thanked = sorted(m["customer_id"] for m in stack.outbox() if m["campaign_id"] == "big-order-thanks")
    assert thanked == ["big", "edge"]
    confirmed = sorted(m["customer_id"] for m in stack.outbox() if m["campaign_id"] == "order-confirmation")
    assert confirmed == ["big", "edge", "small"]


MIGRATED = """
id: moved-up
name: Moved up
consent_purpose: newsletter
trigger: {type: segment_migrated, to: [active]}
steps:
  - {id: note, type: send, template: moved-up}
"""


def test_the_upload_check_renders_a_template_against_what_its_campaigns_triggers_provide(stack: Any) -> None:
    stack.put_campaign("moved-up.yaml", MIGRATED.encode())
    stack.settle()
    stack.put_template("moved-up/subject.txt", b"Hi {{ customer.first_name }}")
    stack.put_template("moved-up/body.txt", b"Back to your cart: {{ trigger.data.cart_url }}")  # no cart in a migration
    stack.put_template("moved-up/body.html", b"<p>{{ salutation }}</p>")
    stack.put_template("lonely/subject.txt", b"Hi")  # sent by no campaign: every name some trigger provides
    stack.put_template("lonely/body.txt", b"{{ trigger.data.cart_url }}")
    stack.put_template("lonely/body.html", b"<p>x</p>")
    stack.settle()
    status = stack.template_status("moved-up")
    assert status["status"] == "invalid"
    assert [(p["file"], p.get("trigger")) for p in status["problems"]] == [("moved-up/body.txt", "segment_migrated")]
    assert stack.template_status("lonely")["status"] == "valid"
    assert stack.template_status("cart-reminder")["status"] == "valid"  # the shipped ones fit their triggers


def test_uploading_a_campaign_checks_the_templates_it_sends_against_its_trigger(stack: Any) -> None:
    stack.put_template("moved-up/subject.txt", b"Hi {{ customer.first_name }}")
    stack.put_template("moved-up/body.txt", b"Back to your cart: {{ trigger.data.cart_url }}")
    stack.put_template("moved-up/body.html", b"<p>{{ salutation }}</p>")
    stack.settle()
    assert stack.template_status("moved-up")["status"] == "valid"  # sent by no campaign yet: any trigger's names

    stack.put_campaign("moved-up.yaml", MIGRATED.encode())  # a migration carries no cart
    stack.settle()
    status = stack.template_status("moved-up")
    assert status["status"] == "invalid"
    assert [(p["file"], p.get("trigger")) for p in status["problems"]] == [("moved-up/body.txt", "segment_migrated")]

    cart = MIGRATED.replace("{type: segment_migrated, to: [active]}", "{type: behaviour, event: cart.abandoned}")
    stack.put_campaign("moved-up.yaml", cart.encode())  # its next version starts on an abandoned cart
    stack.settle()
    assert stack.template_status("moved-up")["status"] == "valid"
