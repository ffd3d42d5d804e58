from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from nudgeloop.domain import mail, tokens

TEMPLATES = {
    "t/subject.txt": "Hello {{ customer.first_name }}",
    "t/body.html": "<p>{{ salutation }}, {{ customer.first_name }}</p><a href='{{ unsubscribe_url }}'>u</a>",
    "t/body.txt": "{{ salutation }}, {{ customer.first_name }}",
}


def render(templates: dict[str, str], context: dict) -> tuple[str, str, str]:
    return mail.render(templates.get, "t", context)


def test_profile_fields_cannot_inject_markup() -> None:
    _s, html, text = render(
        TEMPLATES, {"customer": {"first_name": "<script>x</script>"}, "salutation": "Hi", "unsubscribe_url": "u"}
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>x</script>" in text  # plain text is not HTML


def test_sandbox_refuses_attribute_escapes() -> None:
    evil = {**TEMPLATES, "t/body.html": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}
    with pytest.raises(SecurityError):
        render(evil, {"customer": {"first_name": "A"}, "salutation": "Hi", "unsubscribe_url": "u"})


def test_missing_variables_are_errors_not_blank_mails() -> None:
    with pytest.raises(UndefinedError):
        render(TEMPLATES, {"customer": {}, "salutation": "Hi", "unsubscribe_url": "u"})


def test_one_click_unsubscribe_headers_survive_mime_round_trip() -> None:
    msg = mail.build_message(
        sender="Shop <news@shop.example>",
        recipient="ada@example.com",
        subject="Hi",
        html="<p>x</p>",
        text="x",
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        unsubscribe_url="https://api.example/v1/unsubscribe?token=abc",
    )
    parsed = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
    assert parsed["List-Unsubscribe"] == "<https://api.example/v1/unsubscribe?token=abc>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_body(preferencelist=("html",)).get_content().strip() == "<p>x</p>"


def test_salutation_by_locale() -> None:
    assert mail.salutation("Jan", "de-DE") == "Hallo Jan"
    assert mail.salutation(None, None) == "Hi"


def test_tokens_cannot_be_forged_or_reused_for_another_purpose() -> None:
    key = b"k" * 32
    token = tokens.sign(key, {"k": "unsub", "c": "c1", "p": "newsletter"})
    assert tokens.verify(key, token, "unsub")["c"] == "c1"
    body, mac = token.split(".")
    forged = tokens.sign(b"other", {"k": "unsub", "c": "c2", "p": "newsletter"}).split(".")[0] + "." + mac
    for bad in (forged, token + "x", "garbage", body):
        with pytest.raises(tokens.BadToken):
            tokens.verify(key, bad, "unsub")
    with pytest.raises(tokens.BadToken):
        tokens.verify(key, token, "confirm")
