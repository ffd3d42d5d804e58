"""Rendering personal mails from marketers' templates and building the MIME message (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr
from functools import cache
from typing import Any

from jinja2 import StrictUndefined, TemplateNotFound
from jinja2.loaders import BaseLoader
from jinja2.sandbox import SandboxedEnvironment

from nudgeloop import warm
from nudgeloop.domain import mjml


@dataclass(frozen=True)
class Source:
    """A template file as stored: its text and its version (S3 VersionId)."""

    text: str
    version: str = "-"


Fetch = Callable[[str], "Source | str | None"]
FILES = ("subject.txt", "body.html", "body.txt")
# a file of FILES may be written in another form, tried first in each variant: the HTML body in MJML
FORMS: dict[str, tuple[str, ...]] = {"body.html": ("body.mjml", "body.html")}
NAMES = frozenset(name for file in FILES for name in FORMS.get(file, (file,)))
DEFAULT_LOCALE = ""  # the files directly under the template's folder


def read(fetch: Fetch, path: str) -> Source | None:
    """The file ``path`` as ``fetch`` finds it (a plain string is a file without a version)."""
    return _source(fetch(path))


def _source(found: Source | str | None) -> Source | None:
    return Source(found) if isinstance(found, str) else found


class _FetchLoader(BaseLoader):
    """Loads template files through ``fetch`` and records which versions a render used.

    Compiled templates stay cached in the environment while the file's version is unchanged
    (``uptodate`` asks ``fetch`` again, which the send path caches for a minute)."""

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch
        self.used: dict[str, str] = {}

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        found = _source(self.fetch(template))
        if found is None:
            raise TemplateNotFound(template)
        self.used[template] = found.version
        version = found.version
        # an MJML body: its compiled HTML is the Jinja2 template (compiled once per version)
        text = mjml.compile_html(found.text) if template.endswith(".mjml") else found.text

        def uptodate() -> bool:
            now = _source(self.fetch(template))
            if now is None or now.version != version:
                return False
            self.used[template] = version
            return True

        return text, template, uptodate


class _Environment(SandboxedEnvironment):
    """Sandboxed, and a mapping's keys come before its methods: ``trigger.data.items`` is the
    cart's items, as a template author means it, not ``dict.items``."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


_ENVIRONMENTS: dict[str, tuple[_FetchLoader, SandboxedEnvironment, SandboxedEnvironment]] = {}
warm.keeps(_ENVIRONMENTS.clear)


def environments(fetch: Fetch, cache_key: str | None = None) -> tuple[SandboxedEnvironment, SandboxedEnvironment]:
    """Sandboxed environments: HTML autoescaped, text not; undefined variables are errors.
    With a ``cache_key`` (the templates bucket), they are kept and compiled templates reused."""
    held = _ENVIRONMENTS.get(cache_key) if cache_key else None
    if held is not None:
        held[0].fetch, held[0].used = fetch, {}
        return held[1], held[2]
    loader = _FetchLoader(fetch)
    html = _Environment(loader=loader, autoescape=True, undefined=StrictUndefined, auto_reload=True)
    text = _Environment(loader=loader, autoescape=False, undefined=StrictUndefined, auto_reload=True)
    if cache_key:
        _ENVIRONMENTS[cache_key] = (loader, html, text)
    return html, text


def locale_chain(locale: str | None) -> list[str]:
    """Where to look for a customer's variant, most specific first: ``de-AT``, ``de``, default."""
    chain: list[str] = []
    tag = (locale or "").replace("_", "-").strip()
    while tag:
        if tag not in chain:
            chain.append(tag)
        tag = tag.rpartition("-")[0]
    return [*chain, DEFAULT_LOCALE]


def resolve(fetch: Fetch, name: str, locale: str | None) -> dict[str, str]:
    """For each file of template ``name``, the path of the variant to use (each file falls back
    on its own: a German subject may share the default HTML body). Raises ``TemplateNotFound``."""
    chosen: dict[str, str] = {}
    for file in FILES:
        candidates = [
            f"{name}/{variant}/{form}" if variant else f"{name}/{form}"
            for variant in locale_chain(locale)
            for form in FORMS.get(file, (file,))
        ]
        found = next((path for path in candidates if read(fetch, path) is not None), None)
        if found is None:
            raise TemplateNotFound(f"{name}/{file}")
        chosen[file] = found
    return chosen


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str
    versions: dict[str, str]  # every file the render read (includes and layouts too) -> version


def inline_css(html: str, keep_styles: bool = False) -> str:
    """Move <style> rules into style attributes (mail clients drop <style> blocks). With
    ``keep_styles`` (compiled MJML) the blocks stay too, for their media queries, and the font
    links MJML adds are kept as they are, not fetched."""
    import css_inline  # only the send path needs it

    if not keep_styles:
        return str(css_inline.inline(html))
    return str(_keeping_inliner().inline(html))


@cache
def _keeping_inliner() -> Any:
    """The inliner for compiled MJML, made once per container (not once per mail)."""
    import css_inline

    return css_inline.CSSInliner(keep_style_tags=True, keep_link_tags=True, load_remote_stylesheets=False)


def render(fetch: Fetch, name: str, context: dict[str, Any], locale: str | None = None, cache_key: str | None = None) -> Rendered:
    """Render the subject, HTML body (CSS inlined) and text body of ``name`` in the customer's
    locale (falling back to the default files)."""
    paths = resolve(fetch, name, locale)
    html_env, text_env = environments(fetch, cache_key)
    subject = text_env.get_template(paths["subject.txt"]).render(context).strip()
    html_path = paths["body.html"]
    html = inline_css(html_env.get_template(html_path).render(context), keep_styles=html_path.endswith(".mjml"))
    text = text_env.get_template(paths["body.txt"]).render(context)
    loader = html_env.loader
    assert isinstance(loader, _FetchLoader)
    return Rendered(" ".join(subject.split()), html, text, dict(sorted(loader.used.items())))


def context(
    *,
    customer: dict[str, Any],
    clv: dict[str, Any] | None,
    order: dict[str, Any] | None,
    recommendations: dict[str, list[dict[str, Any]]],
    voucher: str | None,
    campaign_id: str,
    step_id: str,
    unsubscribe_url: str,
    confirm_url: str | None = None,
    trigger: dict[str, Any] | None = None,
    voucher_expires_on: str | None = None,
) -> dict[str, Any]:
    """Every name a template may use. ``clv``, ``order``, ``voucher`` and ``confirm_url`` (only
    in the double opt-in mail) may be None (use ``{% if order %}``); the rest is always there.
    ``trigger`` is what started the journey (docs/templates.md): its ``type``, ``data`` (the
    triggering event's properties, empty for other triggers) and the trigger's own fields."""
    return {
        "trigger": {"type": None, "data": {}, **(trigger or {})},
        "customer": customer,
        "salutation": salutation(customer.get("first_name"), customer.get("locale"), customer.get("gender")),
        "clv": clv,
        "order": order,
        "recommendations": {k: recommendations.get(k, []) for k in ("also_bought", "related", "we_recommend")},
        "voucher": voucher,
        "voucher_expires_on": voucher_expires_on,  # YYYY-MM-DD (UTC), with ``voucher``
        "campaign_id": campaign_id,
        "step_id": step_id,
        "unsubscribe_url": unsubscribe_url,
        # GET on the unsubscribe link shows the preference page (what to keep receiving)
        "preferences_url": unsubscribe_url,
        "confirm_url": confirm_url,
    }


def sample_context(locale: str | None = None, trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    """A context with every name filled in: what validation renders templates against (with
    ``trigger``, as one trigger type provides it: ``sample_trigger``)."""
    card = {"sku": "SKU-1", "name": "Sample product", "url": "https://shop.example/p/1", "image": "", "price": "9.90"}
    return context(
        customer={
            "id": "sample",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "gender": "female",
            "locale": locale,
            "step": "active",
            "segment": "active",
            "orders": 3,
            "revenue": "120.00",
            "attributes": {},
        },
        clv={"expected_purchases_90d": 0.8, "p_alive": 0.9, "expected_value_12m": 84.0},
        order={"order_id": "o-1", "total": "40.00", "occurred_at": "2026-01-01T10:00:00Z"},
        recommendations={"also_bought": [card], "related": [card], "we_recommend": [card]},
        voucher="SAMPLE-0000",
        voucher_expires_on="2026-01-31",
        campaign_id="sample",
        step_id="sample",
        unsubscribe_url="https://api.example/v1/unsubscribe?token=sample",
        confirm_url="https://api.example/v1/consent/confirm?token=sample",
        trigger=SAMPLE_TRIGGER if trigger is None else trigger,
    )


_EVENT_DATA: dict[str, tuple[str, ...]] = {  # the sample properties each behaviour event type has
    "cart.": ("cart_id", "cart_url", "total", "currency", "items"),
    "order.completed": ("order_id", "total", "currency", "channel", "items"),
    "order.refunded": ("order_id",),
    "signup": ("referral_code",),
    "referral.created": ("code",),
    "referral.converted": ("code", "order_id"),
    "service.booked": (),
    "page.viewed": (),
}
_TRIGGER_FIELDS: dict[str, tuple[str, ...]] = {
    "behaviour": ("event_type", "event_id", "occurred_at"),
    "segment_migrated": ("from", "to"),
    "date_reached": ("kind", "days", "on", "ref", "booking"),
    "schedule": ("on",),
    "audience_entered": ("audience_id", "on"),
}


def sample_trigger(trigger_type: str, event_type: str | None = None) -> dict[str, Any]:
    """``trigger`` as a journey of ``trigger_type`` (and, for behaviour, ``event_type``) gives it
    to a template: only the names that trigger provides, so that a template used by it is
    validated against what it will get. A ``custom.*`` event's properties are the shop's own:
    the sample has them all."""
    fields = {k: SAMPLE_TRIGGER[k] for k in _TRIGGER_FIELDS.get(trigger_type, ()) if k in SAMPLE_TRIGGER}
    data: dict[str, Any] = {}
    if trigger_type == "behaviour" and event_type is not None:
        if event_type.startswith("custom."):
            data = dict(SAMPLE_TRIGGER["data"])
        else:
            names = next((v for k, v in _EVENT_DATA.items() if event_type.startswith(k)), ())
            data = {k: SAMPLE_TRIGGER["data"][k] for k in names}
        fields["event_type"] = event_type
    return {"type": trigger_type, **fields, "data": data}


# What validation renders ``trigger`` with: every name some trigger provides (a template used by
# one trigger type only may use its names unguarded; docs/templates.md).
SAMPLE_TRIGGER: dict[str, Any] = {
    "type": "behaviour",
    "event_type": "cart.abandoned",
    "event_id": "sample",
    "occurred_at": "2026-01-01T10:00:00Z",
    "from": "new",
    "to": "active",
    "kind": "birthday",
    "days": 0,
    "on": "2026-01-01",
    "ref": "b-1",
    "audience_id": "tea-buyers",
    "booking": {
        "booking_id": "b-1",
        "service": "Inspection",
        "starts_at": "2026-01-08T09:00:00Z",
        "ends_at": "2026-01-08T10:00:00Z",
    },
    "data": {
        "cart_id": "k-1",
        "cart_url": "https://shop.example/cart/k-1",
        "order_id": "o-1",
        "total": "40.00",
        "currency": "EUR",
        "channel": "webshop",
        "items": [{"sku": "SKU-1", "name": "Sample product", "category": "tea", "quantity": 1, "price": "9.90"}],
        "code": "FRIEND-1",
        "referral_code": "FRIEND-1",
        "tracking_number": "TRACK-1",
    },
}


GREETINGS: dict[str, tuple[str, str, dict[str, str]]] = {
    "en": ("Hi {name}", "Hi", {}),
    "de": ("Hallo {name}", "Hallo", {"f": "Liebe {name}", "m": "Lieber {name}"}),
    "fr": ("Bonjour {name}", "Bonjour", {"f": "Chère {name}", "m": "Cher {name}"}),
    "nl": ("Hallo {name}", "Hallo", {}),
    "es": ("Hola {name}", "Hola", {"f": "Querida {name}", "m": "Querido {name}"}),
}


def salutation(first_name: str | None, locale: str | None, gender: str | None = None) -> str:
    """The greeting in the customer's language, gendered where the language has a usual form
    and the gender (``female``/``male``) is known."""
    lang = (locale or "en")[:2].lower()
    named, bare, by_gender = GREETINGS.get(lang, GREETINGS["en"])
    if not first_name:
        return bare
    form = by_gender.get((gender or "")[:1].lower(), named)
    return form.format(name=first_name)


# SMTP's line limit, not 78: a one-click URL has no place to fold, and a folded one reaches some
# clients with a leading space.
_POLICY = compat32.clone(max_line_length=998)


def _utf8_qp() -> Charset:
    charset = Charset("utf-8")
    charset.body_encoding = QP  # readable bodies (base64 bodies look like spam to some filters)
    return charset


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def _address(value: str) -> str:
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    html: str,
    text: str,
    sent_at: datetime,
    unsubscribe_url: str | None,
) -> Message:
    """multipart/alternative (text, then HTML), UTF-8, quoted-printable; with the RFC 8058
    one-click unsubscribe headers when an unsubscribe URL is given. Built with the compat32
    classes: the modern header registry costs more than the whole render."""
    msg = MIMEMultipart("alternative", policy=_POLICY)
    msg["From"] = _address(sender)
    msg["To"] = recipient  # a validated bare mailbox (domain.addresses), verbatim: nothing to parse
    msg["Subject"] = _header(subject)
    msg["Date"] = format_datetime(sent_at)
    if unsubscribe_url:
        # RFC 8058 one-click unsubscribe (Gmail and Yahoo bulk-sender rules).
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for body, subtype in ((text, "plain"), (html, "html")):
        msg.attach(MIMEText(body, subtype, _utf8_qp(), policy=_POLICY))  # type: ignore[arg-type]  # a Charset works
    return msg
