"""MJML bodies: checked with lines, compiled to HTML once per version, then rendered with Jinja2.

A template's HTML body may be ``body.mjml`` instead of ``body.html``. Its Jinja2 tags pass
through the compiler (``mrml``, the Rust MJML compiler) as text, so the compiled HTML is an
ordinary Jinja2 template: the loader compiles each version once, and every send renders the
compiled HTML. ``mrml`` reports at most a byte offset and compiles unknown elements and
mismatched closing tags without a word, so ``problems`` checks the document first and points at the line; and
compilation may drop a Jinja2 tag placed where MJML keeps no text (between ``mj-column``
elements, say), which ``problems`` reports too, because the mail would silently lack it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

# MJML 4's elements (https://documentation.mjml.io); inside mj-attributes any of them names defaults
ELEMENTS = frozenset(
    {
        "mjml", "mj-head", "mj-body", "mj-attributes", "mj-all", "mj-class", "mj-breakpoint", "mj-font",
        "mj-html-attributes", "mj-html-attribute", "mj-selector", "mj-preview", "mj-style", "mj-title",
        "mj-accordion", "mj-accordion-element", "mj-accordion-title", "mj-accordion-text", "mj-button",
        "mj-carousel", "mj-carousel-image", "mj-column", "mj-divider", "mj-group", "mj-hero", "mj-image",
        "mj-navbar", "mj-navbar-link", "mj-raw", "mj-section", "mj-social", "mj-social-element",
        "mj-spacer", "mj-table", "mj-text", "mj-wrapper",
    }
)  # fmt: skip
# elements whose content is HTML (or text), not MJML: their inner tags are not checked
_ENDING = frozenset(
    {"mj-text", "mj-button", "mj-raw", "mj-table", "mj-navbar-link", "mj-social-element",
     "mj-accordion-title", "mj-accordion-text", "mj-style", "mj-title", "mj-preview"}
)  # fmt: skip
_VOID = frozenset({"mj-breakpoint", "mj-font", "mj-image", "mj-divider", "mj-spacer", "mj-carousel-image", "mj-all"})
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


class _Checker(HTMLParser):
    """The MJML elements' nesting, with the line of each mistake (HTML inside ending tags is free)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, int]] = []
        self.problems: list[dict[str, Any]] = []
        self.seen_root = False

    def _problem(self, message: str, line: int | None = None) -> None:
        self.problems.append({"line": line if line is not None else self.getpos()[0], "error": "mjml", "message": message})

    def _inside_ending(self) -> bool:
        return bool(self.stack) and self.stack[-1][0] in _ENDING

    def _in_attributes(self) -> bool:
        """Inside mj-attributes, an element names the defaults of that element: any name, never closed."""
        return bool(self.stack) and self.stack[-1][0] == "mj-attributes"

    def _opens(self, tag: str) -> bool:
        """Check an opening tag; whether it opens an MJML element that must be closed."""
        if self._inside_ending() and not tag.startswith("mj"):
            return False
        if tag == "mj-include":
            self._problem("mj-include is not supported: put shared HTML in a partial and {% include %} it inside mj-raw")
            return False
        if not (tag == "mjml" or tag.startswith("mj-")):
            if not self._inside_ending():
                self._problem(f"<{tag}> outside an element that holds HTML (mj-text, mj-raw, mj-button, mj-table)")
            return False
        if tag not in ELEMENTS and not self._in_attributes():
            self._problem(f"unknown element <{tag}>")
        if tag == "mjml":
            if self.seen_root or self.stack:
                self._problem("a second <mjml> element")
            self.seen_root = True
        elif not self.stack:
            self._problem(f"<{tag}> outside <mjml>")
        return tag not in _VOID and not self._in_attributes()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._opens(tag):
            self.stack.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._opens(tag)  # closed as it opens

    def handle_endtag(self, tag: str) -> None:
        if not (tag == "mjml" or tag.startswith("mj-")):
            return
        if tag in _VOID or (self._in_attributes() and tag != "mj-attributes"):
            return
        if not self.stack:
            self._problem(f"</{tag}> closes nothing")
            return
        opened, line = self.stack[-1]
        if opened == tag:
            self.stack.pop()
        elif any(t == tag for t, _ in self.stack):
            self._problem(f"</{tag}> before <{opened}> (opened on line {line}) is closed")
            while self.stack and self.stack[-1][0] != tag:
                self.stack.pop()
            self.stack.pop()
        else:
            self._problem(f"</{tag}> closes nothing (<{opened}> from line {line} is open)")

    def finish(self) -> list[dict[str, Any]]:
        self.close()
        if not self.seen_root:
            self._problem("no <mjml> root element", 1)
        for tag, line in reversed(self.stack):
            self._problem(f"<{tag}> is never closed", line)
        return self.problems


def _masked(source: str) -> str:
    """The source with its Jinja2 tags blanked (same length and lines): ``{% if a < b %}`` is no tag."""
    return _JINJA.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), source)


class CompileError(ValueError):
    """The MJML compiler refused a document (it gives no line)."""


@lru_cache(maxsize=128)
def compile_html(source: str) -> str:
    """The HTML of an MJML document, Jinja2 tags kept as text (cached: once per version)."""
    import mrml  # only paths that meet an MJML body need the compiler

    try:
        return str(mrml.to_html(source).content)
    except OSError as exc:  # mrml raises OSError for documents it cannot read
        raise CompileError(str(exc)) from exc


def problems(source: str) -> list[dict[str, Any]]:
    """What is wrong with an MJML body, each with its line (``line`` None where none is known)."""
    extends = re.search(r"\{%-?\s*extends\b", source)
    if extends:
        message = "an MJML body is one whole document: it cannot {% extends %} a layout"
        return [{"line": source[: extends.start()].count("\n") + 1, "error": "mjml", "message": message}]
    checker = _Checker()
    checker.feed(_masked(source))
    found = checker.finish()
    if found:
        return found
    try:
        html = compile_html(source)
    except CompileError as exc:
        # mrml names byte offsets ("unexpected token in root template at position 15:22")
        at = re.search(r"at position (\d+):\d+", str(exc))
        where = source.encode()[: int(at.group(1))].count(b"\n") + 1 if at else None
        return [{"line": where, "error": "mjml", "message": str(exc)}]
    return _lost_tags(source, html)


def _lost_tags(source: str, html: str) -> list[dict[str, Any]]:
    """The Jinja2 tags compilation dropped or changed (in order), each with its source line."""
    kept = _JINJA.findall(html)
    lost: list[dict[str, Any]] = []
    at = 0
    for match in _JINJA.finditer(source):
        tag = match.group(0)
        try:
            at = kept.index(tag, at) + 1
        except ValueError:
            lost.append(
                {
                    "line": source[: match.start()].count("\n") + 1,
                    "error": "mjml",
                    "message": f"{tag} does not survive MJML compilation here: put it inside mj-text or mj-raw",
                }
            )
    return lost
