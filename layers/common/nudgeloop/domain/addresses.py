"""E-mail addresses: one single mailbox that SES can send to, normalised once.

Validated with ``email-validator`` (RFC 5321/5322 for one mailbox) rather than a regex: no display
names, comments, groups, quoted local parts or domain literals, no characters outside what SES
accepts (ASCII local parts: SES does not support SMTPUTF8; international domains become
punycode), no control or bidi characters. Normalised to lower case. What passes is what the
``To`` header carries, verbatim.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def mailbox(value: str) -> str:
    """``value`` as a sendable, normalised address; raises ValueError naming what is wrong."""
    try:
        checked = validate_email(
            value,
            check_deliverability=False,  # no DNS at ingest; SES and the bounce path judge deliverability
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    return str(checked.ascii_email or checked.normalized).lower()


def is_mailbox(value: str | None) -> bool:
    if not value:
        return False
    try:
        return mailbox(value) == value
    except ValueError:
        return False
