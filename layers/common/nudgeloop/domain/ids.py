"""What an id, an attribute key and a locale tag of ours may be, decided once: the events'
validation reads these rules, and the adapters of foreign data (trackers, the Pinpoint import)
make what they bring into them."""

from __future__ import annotations

import hashlib
import re

ID_PATTERN = r"^[A-Za-z0-9._:@+\-]+$"  # customer ids, event ids, order ids, SKUs, ...
MAX_ID = 128
ATTRIBUTE_KEY_PATTERN = r"^[A-Za-z0-9_.\-]+$"
MAX_ATTRIBUTE_KEY = 64
LOCALE_PATTERN = r"^[a-z]{2}(-[A-Z]{2})?$"  # de, de-AT

_ID = re.compile(ID_PATTERN)
_NOT_KEY = re.compile(r"[^A-Za-z0-9_.\-]")
_FOREIGN_LOCALE = re.compile(r"^([a-z]{2})(?:[-_]([A-Za-z]{2}))?$")  # de, de-at, de_DE


def is_id(raw: str, room: int = MAX_ID) -> bool:
    """Whether ``raw`` is a valid id of at most ``room`` characters."""
    return len(raw) <= room and _ID.fullmatch(raw) is not None


def id_or_hash(raw: str, prefix: str, room: int = MAX_ID) -> str:
    """``raw`` if it is a valid id of at most ``room`` characters, else ``prefix`` and a digest of
    it (the same raw value always gives the same id)."""
    if is_id(raw, room):
        return raw
    return prefix + hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def attribute_key(raw: str) -> str:
    """A foreign field name as an attribute key: other characters become ``_``, at most 64."""
    return _NOT_KEY.sub("_", raw)[:MAX_ATTRIBUTE_KEY]


def locale_tag(raw: object) -> str | None:
    """A foreign locale (``de_DE``, ``de-ch``, ``en``) as ours (``de-DE``), None if it is none."""
    found = _FOREIGN_LOCALE.fullmatch(str(raw or ""))
    if not found:
        return None
    return found.group(1) + (f"-{found.group(2).upper()}" if found.group(2) else "")
