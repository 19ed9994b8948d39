"""Resolve a validated Snakemake config into a concrete run: the sessions, datasets and lake.

The JSON schema (``config/schema.yaml``) checks shapes; this module checks meaning (a real
calendar date, a window that is not reversed, a known dataset) and names the key at fault.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .datasets import KNOWN_DATASETS
from .paths import Lake, resolve_lake_root
from .sessions import (is_session, last_completed_session, last_published_session, sessions_between, sessions_ending,
                       why_not_session)

MAX_SESSIONS_PER_RUN = 5300  # ~21 years: a long window runs as monthly batch jobs (quantmini/batches.py)


class ConfigError(ValueError):
    """A config value that is well-formed but wrong; the message names the key."""


@dataclass(frozen=True)
class RunPlan:
    sessions: tuple[str, ...]
    datasets: tuple[str, ...]
    lake: Lake
    notice: str | None  # one line to tell the user when nothing is scheduled
    pull_date: str = ""  # the calendar date the REST schedule is evaluated for
    pulls: tuple = ()  # rest.schedule.Pull, due on pull_date

    @property
    def empty(self) -> bool:
        return not self.sessions and not self.pulls


def today_new_york(now: dt.datetime | None = None) -> dt.date:
    from .sessions import NEW_YORK

    from .sessions import now_utc

    now = now or now_utc()
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo(NEW_YORK)).date()


def resolve_rest(config: dict, today: dt.datetime | None = None) -> tuple[str, tuple]:
    """The REST pull date and the pulls due on it.

    The pull date is ``pull_date``, else ``date``, else ``end``, else today in New York: the
    schedule is by calendar day (fundamentals on Sundays), not by trading session.
    """
    from .rest.datasets import REST_DATASETS
    from .rest.schedule import CORPORATE_ACTIONS, missed_backfills, pulls_for

    names = config.get("rest_datasets")
    names = tuple(REST_DATASETS) if names is None else tuple(names)
    force = tuple(config.get("rest_force") or ())
    for key, values in (("rest_datasets", names), ("rest_force", force)):
        for name in values:
            if name not in REST_DATASETS:
                raise ConfigError(f"config key '{key}': unknown REST dataset {name!r} (known: {', '.join(REST_DATASETS)})")
    for key in ("pull_date", "date", "end"):
        if not _blank(config.get(key)):
            day = parse_date(key, config.get(key))
            break
    else:
        day = today_new_york(today)
    if not names and not force:
        return day.isoformat(), ()
    pulls = pulls_for(day, names, config.get("rest_schedule"), config.get("rest_windows"), force)
    lake = Lake(resolve_lake_root(config.get("lake_root")))
    for pull in missed_backfills(day, names, held_pulls(lake, CORPORATE_ACTIONS), config.get("rest_schedule"),
                                 config.get("rest_windows")):
        if pull.key not in {p.key for p in pulls}:
            pulls.append(pull)
    return day.isoformat(), tuple(pulls)


def held_pulls(lake: Lake, datasets) -> list[tuple[str, str, str]]:
    """(dataset, pull date, window name) of every REST pull of ``datasets`` the lake holds."""
    import glob

    from .paths import rest_partition

    return [rest_partition(p) for name in datasets for p in glob.glob(lake.bronze_rest_glob(name))]


def parse_date(key: str, value) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"config key '{key}': {value!r} is not a date; write it as YYYY-MM-DD (e.g. {key}=2024-01-15)")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"config key '{key}': {value!r} is not a valid calendar date (YYYY-MM-DD)") from None
    if key in ("date", "start", "end"):
        from .sessions import calendar_bounds

        first, last = calendar_bounds()
        if not first <= day <= last:
            raise ConfigError(
                f"config key '{key}': {day} is outside the supported range {first} .. {last} (the XNYS calendar)"
            )
    return day


def _blank(value) -> bool:
    return value is None or value == ""


def resolve(config: dict, today: dt.datetime | None = None) -> RunPlan:
    config = with_defaults(dict(config))
    plan = resolve_window(config, today)
    pull_date, pulls = resolve_rest(config, today)
    notice = plan.notice
    if notice and pulls:
        notice += f"; the REST pulls due on {pull_date} run"
    elif notice:
        # A non-trading date, or a window without a session, that leaves the run with
        # nothing to do is a bad argument: one line, exit 1, nothing written (both alike).
        raise ConfigError(notice.removeprefix("quantmini: ").replace("no flat files exist for it", "nothing to do")
                          .replace("; nothing scheduled", "; nothing to do"))
    return RunPlan(plan.sessions, plan.datasets, plan.lake, notice, pull_date, pulls)


def resolve_window(config: dict, today: dt.datetime | None = None) -> RunPlan:
    """The run's flat-file sessions, datasets and lake (no REST schedule): what the workflow
    builds, and what ``quantmini quality`` and the report check."""
    config = with_defaults(dict(config))
    datasets = config.get("datasets")
    datasets = KNOWN_DATASETS if datasets is None else tuple(datasets)
    for name in datasets:
        if name not in KNOWN_DATASETS:
            raise ConfigError(f"config key 'datasets': unknown dataset {name!r} (known: {', '.join(KNOWN_DATASETS)})")
    lake = Lake(resolve_lake_root(config.get("lake_root")))

    if config["qlib_universe_min_sessions"] > config["qlib_universe_lookback_sessions"]:
        raise ConfigError(f"config key 'qlib_universe_min_sessions': {config['qlib_universe_min_sessions']} is more than "
                          f"qlib_universe_lookback_sessions ({config['qlib_universe_lookback_sessions']})")
    minute_universe = config["qlib_minute_universe"]
    if minute_universe and config["qlib_universes"] and \
            int(minute_universe.removeprefix("liquid")) not in config["qlib_universes"]:
        raise ConfigError(f"config key 'qlib_minute_universe': {minute_universe!r} is not one of qlib_universes "
                          f"({', '.join(f'liquid{n}' for n in config['qlib_universes']) or 'none'})")
    days_back = config["days_back"]
    if isinstance(days_back, bool) or not isinstance(days_back, int) or days_back <= 0:
        raise ConfigError(f"config key 'days_back': {days_back!r} must be a whole number of sessions >= 1")

    start_v, end_v, date_v = config.get("start"), config.get("end"), config.get("date")
    if not _blank(start_v) or not _blank(end_v):
        if _blank(start_v):
            raise ConfigError("config key 'start': required when 'end' is given")
        start = parse_date("start", start_v)
        end = parse_date("end", end_v) if not _blank(end_v) else (
            parse_date("date", date_v) if not _blank(date_v) else last_completed_session(today)
        )
        if end < start:
            raise ConfigError(f"config keys 'start'/'end': start {start} is after end {end}")
        sessions = sessions_between(start, end)
        notice = None if sessions else (
            f"quantmini: config keys 'start'/'end': no XNYS trading session between {start} and {end}; nothing scheduled"
        )
    else:
        default = _blank(date_v)
        date = last_published_session(today, str(config["publish_time"])) if default else parse_date("date", date_v)
        if not is_session(date):
            note = None
            if datasets:
                note = f"quantmini: config key 'date': {date} is not an XNYS trading session ({why_not_session(date)}); no flat files exist for it"
            return RunPlan((), datasets, lake, note)
        sessions = sessions_ending(date, days_back)
        if default:
            # The nightly run: also the recent sessions a previous run left pending (not yet
            # published) or failed, so a late file is fetched without anyone asking.
            catchup = int(config["catchup_sessions"] or 0)
            window = sessions_ending(date, catchup) if catchup else []
            sessions = sorted(set(sessions) | set(unfinished_sessions(lake, datasets, window)))
        notice = None
    if len(sessions) > MAX_SESSIONS_PER_RUN:
        raise ConfigError(
            f"config keys 'start'/'end'/'days_back': {len(sessions)} sessions in one run exceeds {MAX_SESSIONS_PER_RUN}; "
            "backfill it as several windows (see README, 'Backfills')"
        )
    return RunPlan(tuple(d.isoformat() for d in sessions), datasets, lake, notice)


def unfinished_sessions(lake: Lake, datasets, candidates) -> list[dt.date]:
    """The ``candidates`` whose landing or bronze record of any dataset says pending or
    failed, that have no record at all after the dataset's first held session (the nights a
    run never reached them: the machine was off, the run was killed before its downloads),
    or whose bronze record stands without a landing one (a re-download of a corrected file
    that died before it could record its failure, e.g. on a full disk: Snakemake removed
    the landing file, and with bronze present nothing else would fetch it again). A nightly
    run with ``days_back=1`` would otherwise leave them behind."""
    import json
    import os

    if not candidates:
        return []
    first = {ds: first_record(lake, "landing", ds) for ds in datasets}
    out = []
    for day in candidates:
        for ds in datasets:
            statuses = {}
            for layer in ("landing", "bronze"):
                path = lake.sidecar(layer, ds, day.isoformat())
                if os.path.exists(path):
                    try:
                        with open(path) as fh:
                            statuses[layer] = json.load(fh).get("status")
                    except (OSError, ValueError):
                        statuses[layer] = "failed"
            never_reached = not statuses and first[ds] is not None and first[ds] < day.isoformat()
            lost_landing = "bronze" in statuses and "landing" not in statuses
            if never_reached or lost_landing or any(s in ("pending", "failed") for s in statuses.values()):
                out.append(day)
                break
    return out


def first_record(lake: Lake, layer: str, dataset: str) -> str | None:
    """The earliest session with a ``layer`` record of ``dataset`` (None when none): the
    first year folder, its first month, its first file; a few directory listings whatever
    the history held."""
    import os

    folder = os.path.join(lake.metadata_root(), layer, dataset)
    for _ in range(2):  # year, then month
        try:
            subs = sorted(d for d in os.listdir(folder) if d.isdigit() and os.path.isdir(os.path.join(folder, d)))
        except FileNotFoundError:
            return None
        if not subs:
            return None
        folder = os.path.join(folder, subs[0])
    names = sorted(n[:10] for n in os.listdir(folder) if n.endswith(".json") and len(n) == 15)
    return names[0] if names else None


def without_iri_grammars() -> None:
    """Keep jsonschema from importing ``rfc3987_syntax`` before it is first imported.

    jsonschema loads a checker for every format it knows when it is imported; for ``iri`` it
    uses ``rfc3987_syntax`` when installed (Jupyter and pyqlib environments pull it in), which
    compiles ~38 Lark grammars at import: 2.8 s of every Snakemake start on the 2-core machine,
    i.e. of every dry run, every nightly run and every cluster job (jsonschema issue 1428).
    Our schema uses no ``iri`` format (a test holds that), so jsonschema, finding the module
    absent, simply has no ``iri`` checker. Nothing else imports it."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None in sys.modules: ImportError


def schema_error(config: dict, schema: dict) -> str | None:
    """The first way ``config`` breaks the JSON schema, as one line naming the key (None when
    it matches): the workflow's message, and the ``quantmini`` commands' that read config."""
    without_iri_grammars()
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.path))
    if not errors:
        return None
    err = errors[0]
    key = ".".join(str(p) for p in err.path) or "(top level)"
    if err.validator == "additionalProperties":
        return f"config: {err.message} (see config/schema.yaml for the known keys)"
    return f"config key '{key}': {err.message}"


SCHEMA_PATH = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"


@lru_cache(maxsize=1)
def _schema() -> dict:
    import yaml

    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


def load_schema() -> dict:
    """The config's JSON schema (``config/schema.yaml``): its shapes and every default. Parsed
    once per process (every job and command reads the defaults, some several times); each
    caller gets its own copy."""
    import copy

    return copy.deepcopy(_schema())


def defaults(schema: dict | None = None) -> dict:
    """Every top-level default the schema writes: the one place a default is written."""
    import copy

    props = (schema or _schema()).get("properties") or {}
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}


def with_defaults(config: dict, schema: dict | None = None) -> dict:
    """``config`` with the schema's default for every key it does not set (in place, as
    ``snakemake.utils.validate(..., set_default=True)`` does for the workflow)."""
    for key, value in defaults(schema).items():
        config.setdefault(key, value)
    return config


BOOLEAN_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def coerce_command_line(config: dict, schema: dict) -> dict:
    """What ``--config key=value`` gives as strings, as the schema types it, before the schema
    validates (so that its errors name real mistakes). Snakemake parses a top-level number,
    but not Python's spellings of booleans (``gold_qlib=false`` is the string "false"), nor
    the items of a bracketed list (``qlib_universes=[500,1000]`` is ['500', '1000'], found by
    the soak), nor the values of a mapping (``rest_windows={corporate_actions_backfill_days:
    3650}`` gives '3650'). Booleans take the usual spellings (true/false, yes/no, on/off, 1/0,
    any case); integers and numbers take decimals; lists and mappings are walked by the
    schema. Anything else is left for the schema to refuse, naming the key."""
    for key, spec in (schema.get("properties") or {}).items():
        if key in config:
            config[key] = _coerce(config[key], spec)
    return config


def _coerce(value, spec: dict):
    kind = spec.get("type")
    if kind == "boolean":
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in BOOLEAN_WORDS:
            return BOOLEAN_WORDS[value.strip().lower()]
    elif kind == "integer" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    elif kind == "number" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    elif kind == "array" and isinstance(value, list):
        return [_coerce(v, spec.get("items") or {}) for v in value]
    elif kind == "object" and isinstance(value, dict):
        return coerce_command_line(value, spec)
    return value
