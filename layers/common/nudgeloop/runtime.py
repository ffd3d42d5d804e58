"""Cold-start bootstrap shared by every handler: validated settings and bound tables."""

from __future__ import annotations

import os

from nudgeloop.config import TUNABLES, Settings, settings
from nudgeloop.dal.models import bind
from nudgeloop.observability import logger
from nudgeloop.resources import catalog
from nudgeloop.specs import FunctionSpec


def needs(spec: FunctionSpec) -> tuple[str, ...]:
    """The settings a function cannot run without: the resources its catalog entry passes it
    (tunables have their defaults). The catalog decides what a function gets; nothing lists it again."""
    fields = Settings.model_fields
    return tuple(name for name in spec.env if name not in TUNABLES and fields[name].default in ("", None))


def boot() -> Settings:
    """Read and check the configuration once per cold start; fail fast when something the
    function's catalog entry passes it is missing. The function is the one Lambda runs
    (``AWS_LAMBDA_FUNCTION_NAME``; the local runtime sets it while it loads each handler), so a
    module serving several functions (the journey's tasks) checks each against its own entry."""
    config = settings()
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if name:
        spec = next((f for f in catalog(config.prefix).functions if f.name == name), None)
        if spec is None:
            raise RuntimeError(f"{name} is not a function of the {config.prefix} stack")
        config.require(*needs(spec))
    bind(config)
    logger.setLevel(config.log_level)
    return config
