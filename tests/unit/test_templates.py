"""Template checks: every problem is reported by file and line before a customer could see it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from nudgeloop.domain import mail
from nudgeloop.services import templates

GOOD = {
    "layouts/base.html": "<html><body>{% block content %}{% endblock %}<a href='{{ unsubscribe_url }}'>u</a></body></html>",
    "t/subject.txt": "Hello {{ customer.first_name }}",
    "t/body.html": "{% extends 'layouts/base.html' %}{% block content %}<p>{{ salutation }}</p>{% endblock %}",
    "t/body.txt": "{{ salutation }}\n{% for card in recommendations.also_bought %}{{ card.name }}{% endfor %}",
    "t/de/subject.txt": "Hallo {{ customer.first_name }}",
}


def fetch_from(files: dict[str, str]) -> mail.Fetch:
    return lambda path: mail.Source(files[path], "v1") if path in files else None


def check(files: dict[str, str]) -> list[dict]:
    return [r.as_dict() for r in templates.check_all(fetch_from(files), files)]


def test_templates_and_their_locale_variants_are_found_from_paths() -> None:
    assert templates.templates_in(GOOD) == {"t": ["", "de"]}


def test_a_good_template_is_valid_in_every_locale_with_the_versions_it_read() -> None:
    (report,) = check(GOOD)
    assert report["status"] == "valid" and report["locales"] == ["", "de"]
    assert set(report["versions"]) == {"layouts/base.html", "t/subject.txt", "t/body.html", "t/body.txt", "t/de/subject.txt"}


def test_a_name_no_send_provides_is_reported_with_file_and_line() -> None:
    (report,) = check({**GOOD, "t/body.txt": "{{ salutation }}\n\n{{ customer.frist_name }}"})
    assert report["status"] == "invalid"
    assert report["problems"] == [
        {"file": "t/body.txt", "line": 3, "error": "undefined", "message": "'dict object' has no attribute 'frist_name'"}
    ]


def test_syntax_errors_missing_files_and_sandbox_escapes_are_reported() -> None:
    broken = {**GOOD, "t/body.html": "{% if salutation %}<p>x</p>"}
    assert check(broken)[0]["problems"][0]["error"] == "syntax"
    missing = {k: v for k, v in GOOD.items() if k != "t/body.txt"}
    assert check(missing)[0]["problems"][0] == {
        "file": "t/body.txt",
        "line": None,
        "error": "missing",
        "message": "no t/body.txt",
    }
    escape = {**GOOD, "t/body.txt": "{{ salutation.__class__.__mro__[1].__subclasses__() }}"}
    assert check(escape)[0]["problems"][0]["error"] == "sandbox"
    layout = {**GOOD, "layouts/base.html": "{% include 'partials/none.html' %}"}
    assert check(layout)[0]["problems"][0]["error"] == "missing"


def test_the_cli_validates_a_folder_and_fails_on_problems(tmp_path: Path) -> None:
    from nudgeloop_cli.main import app

    for rel, text in GOOD.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    runner = CliRunner()
    assert runner.invoke(app, ["templates", "validate", str(tmp_path)]).exit_code == 0
    (tmp_path / "t" / "body.txt").write_text("{{ nope }}")
    result = runner.invoke(app, ["templates", "validate", str(tmp_path)])
    assert result.exit_code == 1 and "'nope' is undefined" in result.output


def test_the_shipped_templates_are_valid() -> None:
    from nudgeloop_cli.main import app

    root = Path(__file__).resolve().parents[2] / "templates"
    result = CliRunner().invoke(app, ["templates", "validate", str(root)])
    assert result.exit_code == 0, result.output


def test_template_errors_are_recorded_without_the_customers_values() -> None:
    from types import SimpleNamespace

    from nudgeloop.services.sender import redact

    customer = SimpleNamespace(
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        attributes={"club": "Analytical"},
        address={"line1": "12 St James's Square", "postal_code": "SW1Y 4JH", "city": "London"},
    )
    message = "UndefinedError: 'dict object' has no attribute 'Lovelace' (ada@example.com, Analytical Engine, SW1Y 4JH)"
    cleaned = redact(message, customer)
    assert "Lovelace" not in cleaned and "ada@example.com" not in cleaned and "Analytical" not in cleaned
    assert "SW1Y 4JH" not in cleaned  # the postal address is personal data too
    assert cleaned.startswith("UndefinedError: 'dict object' has no attribute '<redacted>'")


def test_a_template_is_checked_against_what_the_triggers_of_its_campaigns_provide() -> None:
    """A cart link in a mail a migration sends is an error (that trigger has no cart), though
    some trigger provides the name; the cart reminder itself may use it unguarded."""
    from nudgeloop.services.campaign_store import parse

    files = {**GOOD, "t/body.txt": "{{ salutation }} {{ trigger.data.cart_url }}"}
    welcome = parse("id: w\nname: w\ntrigger: {type: segment_migrated, to: [new]}\nsteps: [{id: s, type: send, template: t}]\n")
    cart = parse("id: c\nname: c\ntrigger: {type: behaviour, event: cart.abandoned}\nsteps: [{id: s, type: send, template: t}]\n")
    (superset,) = [r.as_dict() for r in templates.check_all(fetch_from(files), files)]
    assert superset["status"] == "valid"  # no campaigns named: every name some trigger provides
    (for_cart,) = [r.as_dict() for r in templates.check_all(fetch_from(files), files, templates.uses_of([cart]))]
    assert for_cart["status"] == "valid"
    (both,) = [r.as_dict() for r in templates.check_all(fetch_from(files), files, templates.uses_of([cart, welcome]))]
    assert both["status"] == "invalid"
    assert {(p["file"], p.get("trigger")) for p in both["problems"]} == {("t/body.txt", "segment_migrated")}
    assert mail.sample_trigger("behaviour", "order.completed")["data"]["order_id"] == "o-1"
    assert mail.sample_trigger("date_reached")["data"] == {} and "booking" in mail.sample_trigger("date_reached")
