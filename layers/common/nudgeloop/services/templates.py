"""Checking marketers' templates before a customer could ever see them.

A template is a folder with ``subject.txt``, ``body.html`` (or ``body.mjml``) and ``body.txt`` (locale variants in
subfolders such as ``de/`` or ``de-AT/``, each file falling back to the default on its own);
other folders (``layouts/``, ``partials/``) hold shared files. Every variant is rendered against
a context that has every name a send provides (``mail.sample_context``): syntax errors, unknown
templates, names a send does not provide and sandbox violations are reported by file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError, TemplateNotFound

from nudgeloop import clock
from nudgeloop.dal import deliverability
from nudgeloop.domain import mail, mjml
from nudgeloop.domain.campaigns import Campaign, SendStep


@dataclass
class Report:
    template: str
    locales: list[str]
    problems: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "status": "valid" if self.ok else "invalid",
            "locales": self.locales,
            "problems": self.problems,
            "versions": self.versions,
        }


def templates_in(paths: Iterable[str]) -> dict[str, list[str]]:
    """Template names and their locale variants ("" is the default) from file paths relative
    to the templates root (``welcome/subject.txt``, ``welcome/de/body.html``)."""
    found: dict[str, set[str]] = {}
    for path in paths:
        parts = path.strip("/").split("/")
        if len(parts) in (2, 3) and parts[-1] in mail.NAMES:
            found.setdefault(parts[0], set()).add(parts[1] if len(parts) == 3 else mail.DEFAULT_LOCALE)
    return {name: sorted(locales) for name, locales in sorted(found.items())}


def _problem(exc: Exception, fallback_file: str) -> dict[str, Any]:
    if isinstance(exc, TemplateSyntaxError):
        return {"file": exc.name or fallback_file, "line": exc.lineno, "error": "syntax", "message": exc.message}
    kind = {UndefinedError: "undefined", SecurityError: "sandbox", TemplateNotFound: "missing"}.get(type(exc), "render")
    line = None
    tb = exc.__traceback__
    while tb is not None:  # Jinja maps template frames to their template file and line
        filename = tb.tb_frame.f_code.co_filename
        if not filename.endswith(".py") and filename != "<template>":
            fallback_file, line = filename, tb.tb_lineno
        tb = tb.tb_next
    return {"file": fallback_file, "line": line, "error": kind, "message": str(exc)}


def check(fetch: mail.Fetch, name: str, locales: list[str], triggers: Iterable[dict[str, Any]] | None = None) -> Report:
    """Render every locale variant of ``name`` against the sample context: with every name some
    trigger provides, or with each of ``triggers`` (what the campaigns that use it start on)."""
    report = Report(name, locales)
    samples = list(triggers) if triggers is not None else [None]
    for locale in locales or [mail.DEFAULT_LOCALE]:
        try:
            paths = mail.resolve(fetch, name, locale or None)
        except TemplateNotFound as exc:
            report.problems.append({"file": str(exc), "line": None, "error": "missing", "message": f"no {exc}"})
            continue
        for file, path in paths.items():
            html_env, text_env = mail.environments(fetch)
            env = html_env if file.endswith(".html") else text_env
            if path.endswith(".mjml"):
                found = _mjml_problems(fetch, path)
                if found:
                    report.problems += [p for p in found if p not in report.problems]
                    continue
            for trigger in samples:
                try:
                    for template in _renderings(env, fetch, path):
                        template.render(mail.sample_context(locale or None, trigger))
                except TemplateError as exc:
                    problem = _problem(exc, path)
                    if trigger is not None:
                        problem["trigger"] = trigger["type"] + (f":{trigger['event_type']}" if "event_type" in trigger else "")
                    if problem not in report.problems:
                        report.problems.append(problem)
            loader = env.loader
            report.versions.update(getattr(loader, "used", {}))
    return report


def _mjml_problems(fetch: mail.Fetch, path: str) -> list[dict[str, Any]]:
    """An MJML body's own problems (with lines in the MJML file), and a ``body.html`` beside it."""
    source = mail.read(fetch, path)
    found_problems = [{"file": path, **p} for p in mjml.problems(source.text)] if source is not None else []
    html_path = path.removesuffix(".mjml") + ".html"
    if mail.read(fetch, html_path) is not None:
        found_problems.append(
            {"file": html_path, "line": None, "error": "mjml", "message": f"{path} is sent, not this file: delete one"}
        )
    return found_problems


def _renderings(env: Any, fetch: mail.Fetch, path: str) -> Iterator[Template]:
    """What to render of ``path``: the template a send renders, and for an MJML body first its
    source as Jinja2 (the compiled HTML's lines are not the marketer's: a syntax error or an
    undefined name is reported at its line in the MJML file)."""
    if path.endswith(".mjml"):
        source = mail.read(fetch, path)
        text = source.text if source is not None else ""
        yield env.template_class.from_code(env, env.compile(text, name=path, filename=path), env.make_globals(None), None)
    yield env.get_template(path)


def snapshot(fetch: mail.Fetch) -> mail.Fetch:
    """The files as one check finds them: each read once (a check renders every template's
    files for every locale and trigger, and every one of them reads the shared layout and
    partials), so a check also sees one consistent set of versions."""
    read: dict[str, mail.Source | str | None] = {}

    def fetched(name: str) -> mail.Source | str | None:
        if name not in read:
            read[name] = fetch(name)
        return read[name]

    return fetched


def check_all(fetch: mail.Fetch, paths: Iterable[str], uses: dict[str, list[dict[str, Any]]] | None = None) -> list[Report]:
    """Check every template; with ``uses`` (template -> the triggers of the campaigns that send
    it), each against what those triggers provide."""
    return [check(fetch, name, locales, (uses or {}).get(name)) for name, locales in templates_in(paths).items()]


def uses_of(campaigns: Iterable[Campaign]) -> dict[str, list[dict[str, Any]]]:
    """For each template, the sample ``trigger`` of every campaign that sends it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for campaign in campaigns:
        trigger = campaign.trigger
        sample = mail.sample_trigger(trigger.type, getattr(trigger, "event", None))
        for step in campaign.steps:
            if isinstance(step, SendStep) and sample not in found.setdefault(step.template, []):
                found[step.template].append(sample)
    return found


def record(report: Report) -> None:
    """Keep a template's status (as the S3-event check found it) in the engine table."""
    previous = deliverability.template_status(report.template) or {}
    # sends keep using the last versions found valid until a valid upload replaces them
    last_valid = report.versions if report.ok else previous.get("last_valid_versions")
    deliverability.save_template_status(
        report.template, {**report.as_dict(), "checked_at": clock.iso(clock.now()), "last_valid_versions": last_valid}
    )
