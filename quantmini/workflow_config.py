"""The workflow's config as the Snakefile takes it: Snakemake's own schema validation with
defaults, then the run plan. Apart from :mod:`quantmini.settings` because it imports
Snakemake, which the jobs' environments (envs/quantmini.yaml) do not hold."""

from __future__ import annotations

import datetime as dt

from . import settings
from .sessions import ClockError


def for_workflow(config: dict, today: dt.datetime | None = None) -> settings.RunPlan:
    """What the Snakefile makes of its ``config`` before it plans anything, in this order:
    boolean spellings coerced, the schema's defaults filled in place (Snakemake's own
    ``validate(..., set_default=True)``, so jobs see the same config), then the run resolved.

    Every way the config can be wrong surfaces as one :class:`settings.ConfigError` whose
    message names the key (the schema's first violation, a bad window, a clock that cannot
    be read), which the workflow prints as its one ``quantmini:`` line; tests check every
    message here, in process, and two of them through a real Snakemake start."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = settings.load_schema()
    settings.coerce_command_line(config, schema)
    settings.without_iri_grammars()  # before validate imports jsonschema: 2.8 s of every start
    try:
        validate(config, schema=str(settings.SCHEMA_PATH), set_default=True)
    except WorkflowError:
        raise settings.ConfigError(settings.schema_error(config, schema)) from None
    try:
        return settings.resolve(config, today=today)
    except ClockError as exc:
        raise settings.ConfigError(str(exc)) from None
