"""MJML bodies: checked with the line of each mistake, compiled once per version, sent as HTML."""

from __future__ import annotations

from pathlib import Path

from nudgeloop.domain import mail, mjml
from nudgeloop.services import templates

ROOT = Path(__file__).resolve().parents[2] / "templates"
BODY = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>{{ salutation }}, <a href="{{ unsubscribe_url }}">unsubscribe</a></mj-text>
        {% for card in recommendations.related %}<mj-button href="{{ card.url }}">{{ card.name }}</mj-button>{% endfor %}
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""
FILES = {"t/subject.txt": "Hi {{ customer.first_name }}", "t/body.mjml": BODY, "t/body.txt": "{{ salutation }}"}


def fetch_from(files: dict[str, str], versions: dict[str, str] | None = None) -> mail.Fetch:
    return lambda path: mail.Source(files[path], (versions or {}).get(path, "v1")) if path in files else None


def problems(files: dict[str, str]) -> list[dict]:
    (report,) = templates.check_all(fetch_from(files), files)
    return report.problems


def test_an_mjml_body_is_rendered_as_responsive_html_with_the_data_of_the_send() -> None:
    context = mail.sample_context()
    rendered = mail.render(fetch_from(FILES), "t", context)
    assert rendered.html.lower().startswith("<!doctype html>") and "@media" in rendered.html  # MJML's responsive rules stay
    assert "Hi Ada, <a" in rendered.html and 'href="https://api.example/v1/unsubscribe?token=sample"' in rendered.html
    assert rendered.html.count("Sample product") == 1 and "{{" not in rendered.html and "{%" not in rendered.html
    assert rendered.versions == {"t/body.mjml": "v1", "t/body.txt": "v1", "t/subject.txt": "v1"}


def test_the_compiler_runs_once_per_version_of_the_file() -> None:
    files = dict(FILES)
    versions = {"t/body.mjml": "v1"}
    mjml.compile_html.cache_clear()
    for _ in range(3):
        mail.render(fetch_from(files, versions), "t", mail.sample_context(), cache_key="bucket-a")
    assert mjml.compile_html.cache_info().misses == 1
    files["t/body.mjml"] = BODY.replace("{{ salutation }}", "Welcome {{ customer.first_name }}")
    versions["t/body.mjml"] = "v2"
    assert "Welcome Ada" in mail.render(fetch_from(files, versions), "t", mail.sample_context(), cache_key="bucket-a").html
    assert mjml.compile_html.cache_info().misses == 2


def test_a_locale_variant_may_be_mjml_while_the_default_is_html() -> None:
    files = {**FILES, "t/body.html": "<p>{{ salutation }}</p>"}
    files.pop("t/body.mjml")
    files["t/de/body.mjml"] = BODY
    assert mail.resolve(fetch_from(files), "t", "de-AT")["body.html"] == "t/de/body.mjml"
    assert mail.resolve(fetch_from(files), "t", "fr")["body.html"] == "t/body.html"
    assert templates.templates_in(files) == {"t": ["", "de"]}


def test_mjml_mistakes_are_reported_at_their_line() -> None:
    mismatched = BODY.replace("      </mj-column>\n", "")
    assert problems({**FILES, "t/body.mjml": mismatched}) == [
        {
            "file": "t/body.mjml",
            "line": 7,
            "error": "mjml",
            "message": "</mj-section> before <mj-column> (opened on line 4) is closed",
        }
    ]
    unknown = BODY.replace("<mj-text>", "<mj-txt>").replace("</mj-text>", "</mj-txt>")
    assert problems({**FILES, "t/body.mjml": unknown})[0] == {
        "file": "t/body.mjml",
        "line": 5,
        "error": "mjml",
        "message": "unknown element <mj-txt>",
    }
    unclosed = BODY.replace("</mjml>\n", "")
    assert problems({**FILES, "t/body.mjml": unclosed})[0]["message"] == "<mjml> is never closed"
    html_in_column = BODY.replace("<mj-text>", "<p>").replace("</mj-text>", "</p>")
    assert problems({**FILES, "t/body.mjml": html_in_column})[0]["line"] == 5
    self_closing = BODY.replace("      <mj-column>\n", "      <mj-column>\n<br/>\n")  # a self-closing tag is checked too
    assert problems({**FILES, "t/body.mjml": self_closing})[0]["message"].startswith("<br> outside an element that holds HTML")
    extends = "{% extends 'layouts/base.html' %}\n" + BODY
    assert "cannot {% extends %}" in problems({**FILES, "t/body.mjml": extends})[0]["message"]


def test_jinja_mistakes_in_an_mjml_body_are_reported_at_their_line_in_the_mjml_file() -> None:
    undefined = BODY.replace("{{ card.name }}", "{{ card.nmae }}")
    assert problems({**FILES, "t/body.mjml": undefined}) == [
        {"file": "t/body.mjml", "line": 6, "error": "undefined", "message": "'dict object' has no attribute 'nmae'"}
    ]
    syntax = BODY.replace("{% endfor %}", "")
    (problem,) = problems({**FILES, "t/body.mjml": syntax})
    assert problem["error"] == "syntax" and problem["file"] == "t/body.mjml"


def test_a_jinja_tag_the_compiler_drops_is_reported_and_a_refusal_at_its_line() -> None:
    # mj-body's width is read as pixels: a placeholder there is silently dropped
    dropped = BODY.replace("  <mj-body>", '  <mj-body width="{{ voucher }}">')
    assert problems({**FILES, "t/body.mjml": dropped}) == [
        {
            "file": "t/body.mjml",
            "line": 2,
            "error": "mjml",
            "message": "{{ voucher }} does not survive MJML compilation here: put it inside mj-text or mj-raw",
        }
    ]
    refused = BODY.replace("<mjml>\n", "<mjml>\n  <mj-head>{{ voucher }}</mj-head>\n")  # text where MJML takes none
    (problem,) = problems({**FILES, "t/body.mjml": refused})
    assert problem["line"] == 2 and problem["message"].startswith("unexpected token")


def test_a_body_html_beside_a_body_mjml_is_reported() -> None:
    found = problems({**FILES, "t/body.html": "<p>old</p>"})
    assert found == [
        {"file": "t/body.html", "line": None, "error": "mjml", "message": "t/body.mjml is sent, not this file: delete one"}
    ]


def test_the_shipped_welcome_template_is_mjml_and_valid() -> None:
    files = {str(p.relative_to(ROOT)): p.read_text() for p in ROOT.rglob("*") if p.is_file()}
    assert "welcome/body.mjml" in files and "welcome/body.html" not in files
    (report,) = [r for r in templates.check_all(fetch_from(files), files) if r.template == "welcome"]
    assert report.ok, report.problems
    html = mail.render(fetch_from(files), "welcome", mail.sample_context()).html
    assert "Hi Ada!" in html and "Sample product" in html
