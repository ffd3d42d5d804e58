"""Cold-start bootstrap shared by every handler: validated settings and bound tables."""

from __future__ import annotations

from nudgeloop.config import Settings, settings
from nudgeloop.dal.models import bind
from nudgeloop.observability import logger


def boot(*required: str) -> Settings:
    """Read and check the configuration once per cold start; fail fast when something's missing."""
    config = settings().require(*required)
    bind(config)
    logger.setLevel(config.log_level)
    return config
