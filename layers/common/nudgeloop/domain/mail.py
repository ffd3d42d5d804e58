"""Rendering personal mails from marketers' templates and building the MIME message (pure)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateNotFound
from jinja2.loaders import BaseLoader
from jinja2.sandbox import SandboxedEnvironment


class _FetchLoader(BaseLoader):
    def __init__(self, fetch: Callable[[str], str | None]) -> None:
        self.fetch = fetch

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        source = self.fetch(template)
        if source is None:
            raise TemplateNotFound(template)
        return source, template, lambda: True


def environments(fetch: Callable[[str], str | None]) -> tuple[SandboxedEnvironment, SandboxedEnvironment]:
    """Sandboxed environments: HTML autoescaped, text not; undefined variables are errors."""
    loader = _FetchLoader(fetch)
    html = SandboxedEnvironment(loader=loader, autoescape=True, undefined=StrictUndefined)
    text = SandboxedEnvironment(loader=loader, autoescape=False, undefined=StrictUndefined)
    return html, text


def render(fetch: Callable[[str], str | None], name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Render ``name/subject.txt``, ``name/body.html`` and ``name/body.txt``."""
    html_env, text_env = environments(fetch)
    subject = text_env.get_template(f"{name}/subject.txt").render(context).strip()
    html = html_env.get_template(f"{name}/body.html").render(context)
    text = text_env.get_template(f"{name}/body.txt").render(context)
    return " ".join(subject.split()), html, text


def salutation(first_name: str | None, locale: str | None) -> str:
    lang = (locale or "en")[:2]
    greeting = {"de": "Hallo", "fr": "Bonjour", "nl": "Hallo", "es": "Hola"}.get(lang, "Hi")
    return f"{greeting} {first_name}" if first_name else greeting


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    html: str,
    text: str,
    sent_at: datetime,
    unsubscribe_url: str | None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent_at)
    if unsubscribe_url:
        # RFC 8058 one-click unsubscribe (Gmail and Yahoo bulk-sender rules).
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg
