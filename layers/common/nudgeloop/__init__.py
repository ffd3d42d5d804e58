"""Nudgeloop: closed-loop marketing automation on AWS (shared Lambda layer package)."""

__version__ = "0.1.0"
