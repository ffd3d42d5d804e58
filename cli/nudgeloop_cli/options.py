"""Command-line options shared by the ``nudgeloop`` commands."""

from __future__ import annotations

from typing import Annotated

import typer

UrlOption = Annotated[str | None, typer.Option("--url", help="Local stack URL (else NUDGELOOP_URL, else http://127.0.0.1:8787)")]
PrefixOption = Annotated[str, typer.Option(help="The stack's resource prefix")]
