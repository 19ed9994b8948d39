"""The config a ``snakemake --profile P --config k=v`` run would see, for the ``quantmini``
commands that read the lake the way the workflow does (gaps, quality, backfill, config show).

Snakemake's order, reproduced: ``config/config.yaml`` (the Snakefile's ``configfile:``),
then the profile's config file(s) (``configfile:`` in the profile, relative to its folder),
then ``--config`` key by key; values parsed by Snakemake's own ``parse_config``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from . import settings

REPO = Path(__file__).resolve().parents[1]
SECRET_WORDS = ("key", "secret", "token", "password")


class ProfileError(ValueError):
    pass


def workflow_dir() -> Path:
    """The folder holding the Snakefile (an editable install of this repository)."""
    if not (REPO / "Snakefile").exists():
        raise ProfileError(f"no Snakefile beside the quantmini package ({REPO}); run from a clone with `pip install -e .`")
    return REPO


def _profile_dir(profile: str) -> Path:
    path = Path(profile)
    if not path.is_dir():
        for candidate in (REPO / profile, REPO / "profiles" / profile):  # the workflow's own profiles
            if candidate.is_dir():
                path = candidate
                break
    if not (path / "config.yaml").exists():
        raise ProfileError(f"--profile {profile}: no config.yaml in {path} (profiles are folders, e.g. profiles/workstation)")
    return path


def _merge(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def load(profile: str | None = None, overrides: list[str] | None = None) -> dict:
    from snakemake.cli import parse_config

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text()) or {}
    if profile:
        pdir = _profile_dir(profile)
        prof = yaml.safe_load((pdir / "config.yaml").read_text()) or {}
        files = prof.get("configfile") or prof.get("configfiles") or []
        for f in [files] if isinstance(files, str) else files:
            _merge(config, yaml.safe_load((pdir / f).read_text()) or {})
        if prof.get("config"):
            _merge(config, parse_config(list(prof["config"])))
    if overrides:
        try:
            _merge(config, parse_config(list(overrides)))
        except ValueError as exc:
            raise ProfileError(f"--config: {exc}") from None
    schema = settings.load_schema()
    settings.coerce_command_line(config, schema)
    problem = settings.schema_error(config, schema)  # the same check, and line, as the workflow's
    if problem:
        raise ProfileError(problem)
    return settings.with_defaults(config, schema)  # as the workflow's validate(set_default=True)


def masked(config: dict) -> dict:
    """The config with every value that could be a secret masked, and for each credential
    variable named by the config whether the environment sets it (never its value)."""
    from .secrets import MissingCredential, get_credential, redact

    out = {}
    for key, value in config.items():
        if key.endswith("_env") and isinstance(value, str):
            try:  # read (and so registered for redaction), never shown
                state = "set" if get_credential(value, required=False) else "NOT SET"
            except MissingCredential as exc:
                state = f"NOT SET: {exc}"
            out[key] = f"{value} ({state})"
        elif any(w in key.lower() for w in SECRET_WORDS) and value not in (None, ""):
            out[key] = "****"
        else:
            out[key] = value
    # a credential pasted into another value (an endpoint URL with ?apiKey=...) is masked too
    return {k: redact(v) if isinstance(v, str) else v for k, v in out.items()}
