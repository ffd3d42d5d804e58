"""Amazon Pinpoint's exports converted to Nudgeloop (pure: files in, events and definitions out).

What a Pinpoint project exports, in the formats AWS documents:
- ``endpoints/``: the newline-delimited JSON ``CreateExportJob`` writes (``.json``, ``.jsonl`` or
  gzipped ``.gz``), one endpoint a line;
- ``segments/``: ``get-segment`` answers (``SegmentResponse``, or ``{"SegmentResponse": ...}``);
- ``templates/``: ``get-email-template`` answers (``EmailTemplateResponse``);
- ``journeys/``: ``get-journey`` answers (``JourneyResponse``).

Every item that cannot be mapped is in the report with the reason (docs/integrations.md).
"""

from __future__ import annotations

from pathlib import Path

from . import endpoints, journeys, segments, templates
from .common import Migration, slug
from .templates import handlebars

__all__ = ["Migration", "convert", "handlebars", "slug"]


def convert(directory: Path, purpose: str = "marketing") -> Migration:
    """Everything under ``directory`` (``endpoints/``, ``segments/``, ``templates/``, ``journeys/``)."""
    out = Migration()
    if (directory / "endpoints").is_dir():
        endpoints.convert(directory / "endpoints", out, purpose)
    audience_ids = segments.convert(directory / "segments", out) if (directory / "segments").is_dir() else {}
    template_names = templates.convert(directory / "templates", out) if (directory / "templates").is_dir() else {}
    if (directory / "journeys").is_dir():
        journeys.convert(directory / "journeys", out, template_names, audience_ids, purpose)
    return out
