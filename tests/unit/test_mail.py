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
    out = mail.render(templates.get, "t", context)
    return out.subject, out.html, out.text


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


def test_salutation_by_locale_and_gender_where_known() -> None:
    assert mail.salutation("Jan", "de-DE") == "Hallo Jan"
    assert mail.salutation("Jan", "de-DE", "male") == "Lieber Jan"
    assert mail.salutation("Eva", "de", "female") == "Liebe Eva"
    assert mail.salutation("Eva", "nl", "female") == "Hallo Eva"  # no usual gendered form
    assert mail.salutation("Ann", "xx", "female") == "Hi Ann"
    assert mail.salutation(None, None) == "Hi"


def test_each_file_falls_back_from_the_customers_locale_to_the_default() -> None:
    files = {
        **TEMPLATES,
        "t/de/subject.txt": "Hallo {{ customer.first_name }}",
        "t/de-AT/body.txt": "Servus {{ customer.first_name }}",
    }
    fetch = lambda path: mail.Source(files[path], f"v-{path}") if path in files else None  # noqa: E731
    ctx = {"customer": {"first_name": "Jan"}, "salutation": "Hallo Jan", "unsubscribe_url": "u"}
    austrian = mail.render(fetch, "t", ctx, "de-AT")
    assert (austrian.subject, austrian.text) == ("Hallo Jan", "Servus Jan")
    assert "Hallo Jan, Jan" in austrian.html  # the default body
    assert austrian.versions == {
        "t/body.html": "v-t/body.html",
        "t/de-AT/body.txt": "v-t/de-AT/body.txt",
        "t/de/subject.txt": "v-t/de/subject.txt",
    }
    assert mail.render(fetch, "t", ctx, "fr").subject == "Hello Jan"
    assert mail.locale_chain("de_AT") == ["de-AT", "de", ""]


def test_css_rules_are_inlined_into_style_attributes() -> None:
    files = {
        **TEMPLATES,
        "t/body.html": (
            "<html><head><style>p.big { font-size: 20px }</style></head><body><p class='big'>{{ salutation }}</p></body></html>"
        ),
    }
    html = render(files, {"customer": {"first_name": "A"}, "salutation": "Hi", "unsubscribe_url": "u"})[1]
    assert 'style="font-size: 20px;"' in html and "<style>" not in html


def test_tokens_cannot_be_forged_or_reused_for_another_purpose() -> None:
    key = b"k" * 32
    token = tokens.sign(key, {"k": "unsub", "c": "c1", "p": "newsletter"})
    assert tokens.verify(key, token, "unsub")["c"] == "c1"
    body, mac = token.split(".")
    forged = tokens.sign(b"other", {"k": "unsub", "c": "c2", "p": "newsletter"}).split(".")[0] + "." + mac
    for bad in (forged, token + "x", "garbage", body, body + ".\u00e9\u00e8", "\u00e9.\u00e9"):  # non-ASCII: a 403, not a crash
        with pytest.raises(tokens.BadToken):
            tokens.verify(key, bad, "unsub")
    with pytest.raises(tokens.BadToken):
        tokens.verify(key, token, "confirm")


def test_non_ascii_mails_are_encoded_and_keep_lines_short_and_the_unsubscribe_header_unfolded() -> None:
    url = "https://api.example/v1/unsubscribe?token=" + "a" * 180
    msg = mail.build_message(
        sender="Schöner Laden <news@shop.example>",
        recipient="ada@example.com",
        subject="Grüße, Ada: 10 % Rabatt",
        html="<p>Grüße €</p>" + "x" * 3000,
        text="Grüße €",
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        unsubscribe_url=url,
    )
    raw = msg.as_bytes()
    assert raw.isascii()
    body_lines = raw.split(b"\n\n", 1)[1].split(b"\n")
    assert max(len(line) for line in body_lines) <= 78  # quoted-printable
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Subject"] == "Grüße, Ada: 10 % Rabatt" and parsed["From"].addresses[0].display_name == "Schöner Laden"
    assert f"List-Unsubscribe: <{url}>".encode() in raw
    assert parsed.get_body(preferencelist=("plain",)).get_content() == "Grüße €"


def test_tokens_expire() -> None:
    key = b"k" * 32
    token = tokens.sign(key, {"k": "confirm", "c": "c1"}, datetime(2026, 1, 8, tzinfo=UTC))
    assert tokens.verify(key, token, "confirm", datetime(2026, 1, 7, tzinfo=UTC))["c"] == "c1"
    with pytest.raises(tokens.BadToken, match="expired"):
        tokens.verify(key, token, "confirm", datetime(2026, 1, 9, tzinfo=UTC))


@pytest.mark.parametrize("token", ["no-dot-at-all", "", ".", "x.y", "W10.abc", "\u2603.\u2603"])
def test_a_malformed_token_is_refused_in_our_words_not_pythons(token: str) -> None:
    from nudgeloop.domain import tokens

    with pytest.raises(tokens.BadToken) as refused:
        tokens.verify(b"k" * 32, token, "unsub")
    assert str(refused.value) in ("malformed token", "signature does not match")
