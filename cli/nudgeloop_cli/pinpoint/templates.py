"""Pinpoint email templates (``get-email-template``) as ours: Handlebars made Jinja2."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .common import Migration, responses, slug

# ------------------------------------------------------------------ templates

# Pinpoint's message variables as Jinja2 expressions of a send's context (docs/templates.md)
_VARIABLES = {
    "User.UserAttributes.FirstName": "customer.first_name",
    "User.UserAttributes.LastName": "customer.last_name",
    "User.UserId": "customer.id",
    "Demographic.Locale": "customer.locale",
}
_HELPERS = {"upper": "upper", "lower": "lower", "capitalize": "capitalize"}
_MUSTACHE = re.compile(r"\{\{\{?\s*(.*?)\s*\}?\}\}", re.S)


def _expression(name: str) -> str | None:
    if name in _VARIABLES:
        return _VARIABLES[name]
    for prefix in ("User.UserAttributes.", "Attributes."):
        if name.startswith(prefix) and re.fullmatch(r"[A-Za-z0-9_.-]+", name[len(prefix) :]):
            return f'customer.attributes.get("{name[len(prefix) :]}")'
    return None


def handlebars(text: str, defaults: dict[str, str], where: str) -> tuple[str, list[str]]:
    """Pinpoint's Handlebars as Jinja2, and what could not be converted (with its line)."""
    problems: list[str] = []

    def line_of(match: re.Match[str]) -> int:
        return text[: match.start()].count("\n") + 1

    def value(name: str, match: re.Match[str]) -> str | None:
        expression = _expression(name)
        if expression is None:
            problems.append(f"{where} line {line_of(match)}: no Nudgeloop value for {{{{{name}}}}}")
            return None
        fallback = defaults.get(name)
        return f"({expression} or {json.dumps(fallback)})" if fallback is not None else f'({expression} or "")'

    def convert(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("!"):
            return ""  # a Handlebars comment
        block = re.fullmatch(r"#(if|unless)\s+([A-Za-z0-9_.-]+)", inner)
        if block:
            expression = _expression(block.group(2))
            if expression is None:
                problems.append(f"{where} line {line_of(match)}: no Nudgeloop value for {block.group(2)}")
                return match.group(0)
            return f"{{% if {'not ' if block.group(1) == 'unless' else ''}{expression} %}}"
        if inner in ("/if", "/unless"):
            return "{% endif %}"
        if inner == "else":
            return "{% else %}"
        helper = re.fullmatch(r"(\w+)\s+([A-Za-z0-9_.-]+)", inner)
        if helper and helper.group(1) in _HELPERS:
            converted = value(helper.group(2), match)
            return match.group(0) if converted is None else f"{{{{ {converted} | {_HELPERS[helper.group(1)]} }}}}"
        if helper or inner.startswith(("#", "/", ">")):
            problems.append(f"{where} line {line_of(match)}: the helper {{{{{inner}}}}} is not supported")
            return match.group(0)
        converted = value(inner, match)
        return match.group(0) if converted is None else f"{{{{ {converted} }}}}"

    return _MUSTACHE.sub(convert, text), problems


def convert(directory: Path, out: Migration) -> dict[str, str]:
    """Pinpoint template name -> Nudgeloop template name (only those converted)."""
    names: dict[str, str] = {}
    for name, template in responses(directory, "EmailTemplateResponse", "TemplateName", "template", out):
        try:
            defaults = json.loads(template.get("DefaultSubstitutions") or "{}")
        except json.JSONDecodeError:
            defaults = {}
        target = slug(name)
        html = str(template.get("HtmlPart") or "")
        text = str(template.get("TextPart") or "") or re.sub(r"<[^>]+>", "", html)
        parts = {"subject.txt": str(template.get("Subject") or name), "body.html": html, "body.txt": text}
        converted: dict[str, str] = {}
        problems: list[str] = []
        for file, body in parts.items():
            converted[file], found = handlebars(body, {k: str(v) for k, v in defaults.items()}, f"{name} {file}")
            problems += found
        if problems:
            out.skip("template", name, "; ".join(problems))
            continue
        if "unsubscribe_url" not in converted["body.html"]:
            footer = '<p style="font-size:12px"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>\n'
            body = converted["body.html"]
            at = body.lower().rfind("</body>")
            converted["body.html"] = body[:at] + footer + body[at:] if at >= 0 else body + "\n" + footer
            converted["body.txt"] += "\n\nUnsubscribe: {{ unsubscribe_url }}\n"
            out.note("template", name, "an unsubscribe link was added (every marketing mail has one)")
        for file, body in converted.items():
            out.templates[f"{target}/{file}"] = body
        names[name] = target
        out.count("templates_converted")
    return names
