"""Which REST pulls a run makes for a given date: the operations guide's section 3, from config.

The defaults (config/schema.yaml, rest_schedule and rest_windows): corporate actions
(dividends, splits, IPOs) daily over a month back and a quarter ahead, plus a 2-year backfill
on the 1st of the month; fundamentals and ticker events on Sundays; short interest and short
volume on Mondays; news daily (the previous day); reference tickers on Mondays. Pure functions of the date and the config, so the daily run's targets are known at DAG time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .datasets import REST_DATASETS
from .windows import Window

def _schema_default(key: str) -> dict:
    from ..settings import defaults

    return defaults()[key]


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# The defaults of config keys rest_windows and rest_schedule, written once, in the schema; a
# config that sets some of a key's entries keeps the defaults of the others.
DEFAULT_WINDOWS = _schema_default("rest_windows")
DEFAULT_SCHEDULE = _schema_default("rest_schedule")
CORPORATE_ACTIONS = ("dividends", "splits", "ipos")
SHORT_DATA = ("short_interest", "short_volume")


@dataclass(frozen=True)
class Pull:
    dataset: str
    window: Window

    @property
    def key(self) -> tuple[str, str]:
        return self.dataset, self.window.name


def _due(when: str, day: dt.date) -> bool:
    return when == "daily" or (when != "never" and WEEKDAYS[day.weekday()] == when)


def _group(dataset: str) -> str:
    if dataset in CORPORATE_ACTIONS:
        return "corporate_actions"
    if dataset in SHORT_DATA:
        return "short_data"
    return dataset


def windows_for(dataset: str, day: dt.date, windows: dict, backfill: bool) -> list[Window]:
    """Every window of ``dataset`` pulled on ``day`` (ignoring whether it is due)."""
    w = {**DEFAULT_WINDOWS, **(windows or {})}
    if dataset in CORPORATE_ACTIONS:
        out = [Window.days(day, w["corporate_actions_back_days"], w["corporate_actions_ahead_days"])]
        if backfill:
            out.append(Window.days(day, w["corporate_actions_backfill_days"], 0))
        return out
    if dataset == "fundamentals":
        return [
            Window.days(day, w["fundamentals_quarterly_days"], 0, label="quarterly"),
            Window.days(day, w["fundamentals_annual_days"], 0, label="annual"),
        ]
    if dataset in SHORT_DATA:
        return [Window.days(day, w["short_data_days"], 0)]
    if dataset == "news":
        back = max(1, int(w["news_days"]))
        return [Window(None, day - dt.timedelta(days=back), day - dt.timedelta(days=1))]
    if dataset == "tickers":
        return [Window("active"), Window("delisted")]
    if dataset == "ticker_events":
        return [Window("all")]
    raise KeyError(f"unknown REST dataset {dataset!r} (known: {', '.join(REST_DATASETS)})")


def pulls_for(day: dt.date, datasets, schedule: dict | None = None, windows: dict | None = None,
              force=()) -> list[Pull]:
    """The pulls due on ``day`` for the enabled ``datasets``; ``force`` adds datasets whatever
    their schedule (their regular windows for that day)."""
    sched = {**DEFAULT_SCHEDULE, **(schedule or {})}
    backfill = day.day == int(sched["corporate_actions_backfill_day"])
    out: list[Pull] = []
    for name in REST_DATASETS:
        if name not in datasets and name not in force:
            continue
        if name in force or _due(sched[_group(name)], day):
            for window in windows_for(name, day, windows or {}, backfill and name in CORPORATE_ACTIONS):
                out.append(Pull(name, window))
    return out


def latest_due(dataset: str, day: dt.date, schedule: dict | None = None) -> dt.date:
    """The most recent date on or before ``day`` on which ``dataset`` is pulled."""
    sched = {**DEFAULT_SCHEDULE, **(schedule or {})}
    when = sched[_group(dataset)]
    if when == "never":
        raise ValueError(f"{dataset} is never pulled on a schedule (rest_schedule says 'never')")
    d = day
    while not _due(when, d):
        d -= dt.timedelta(days=1)
    return d


def missed_backfills(day: dt.date, datasets, held, schedule: dict | None = None,
                     windows: dict | None = None) -> list[Pull]:
    """The 2-year corporate-action backfills ``day``'s run makes up for: a dataset whose last
    backfill day (before ``day``) left no backfill pull in the lake (``held``: (dataset,
    pull_date, window name) of the pulls it holds), though the lake held that dataset's
    pulls before it. Found by the soak: a backfill that failed on its day (a 5xx storm on
    /v3/reference/splits) or a night the machine was off was not made again for a month.
    A lake that starts after the backfill day waits for the next one, as before."""
    sched = {**DEFAULT_SCHEDULE, **(schedule or {})}
    w = {**DEFAULT_WINDOWS, **(windows or {})}
    bf_day, back = int(sched["corporate_actions_backfill_day"]), int(w["corporate_actions_backfill_days"])
    if not bf_day or sched[_group("splits")] == "never":
        return []
    last = day - dt.timedelta(days=1)
    while last.day != bf_day and (day - last).days <= 62:
        last -= dt.timedelta(days=1)
    if last.day != bf_day:
        return []
    out = []
    for name in CORPORATE_ACTIONS:
        if name not in datasets:
            continue
        mine = [(dt.date.fromisoformat(p), Window.parse(wn)) for ds, p, wn in held if ds == name]
        operating = any(p < last for p, _ in mine)
        backfilled = any(last <= p < day and win.start is not None and (p - win.start).days >= back for p, win in mine)
        if operating and not backfilled:
            out.append(Pull(name, Window.days(day, back, 0)))
    return out
