"""The soak's seeded schedule of events, and what each night must end with.

Pure functions of (seed, sessions): the same seed gives the same events in the same order,
so a failing soak is replayed exactly (``make soak SEED=...``). The expected exit code of a
night is decided here, from the events alone, never from what the run did: 0, 1 (a job
failed: a bad file, a full disk, an API target that keeps failing), 3 (the run succeeded
but a file is still unpublished more than ``quality_pending_alert_hours`` after it was due),
75 (a second run found the lake locked), or ``KILLED`` (the harness killed the run)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
KILLED = "killed"
#: the flat-file datasets the soak plays (all four, at a reduced universe)
DATASETS = ("stocks_daily", "stocks_minute", "options_daily", "options_minute")

#: every kind of event, by who causes it
VENDOR = ("late", "missing_days", "correction_recent", "correction_old", "bad_then_good", "phantom_symbol",
          "never_published")
NETWORK = ("rest_storm", "rest_fails", "rest_slow", "s3_storm")
MACHINE = ("sigkill", "crash_point", "disk_full", "concurrent_runs", "clock_back", "clock_forward")
KINDS = VENDOR + NETWORK + MACHINE
#: drawn after the others, each from a stream of its own, so that adding them left every
#: seed's other events as they were: a dividend the vendor lists only ``back`` sessions after
#: its ex-date (the harness picks it from the sandbox's dividends and withholds it until
#: then); a split of the window listed ``back`` sessions after its execution date; the
#: window's ticker change (the flat files switch symbols on its date) listed in the ticker
#: events ``back`` sessions later. The last two come from the vendor's data (``splits``,
#: ``renames`` of :func:`build`): a window without one has no such event.
LATE_ACTIONS = ("late_dividend", "late_split", "ticker_change")
ORDER = KINDS + LATE_ACTIONS
#: crash points reached on every night that downloads a file (quantmini.faults.POINTS)
CRASH_POINTS = ("landing.downloaded", "sidecar.mid_write", "qlib.mid_update")

PUBLISH_TIME = dt.time(11, 0)  # the vendor's due time, New York, the next calendar day
PENDING_ALERT_HOURS = 48.0  # quality_pending_alert_hours' default
REFRESH_DAYS = 5  # refresh_days' default
RUN_TIME = dt.time(12, 30)  # when cron starts the night, New York (after the files are due)


@dataclass(frozen=True)
class Event:
    night: int  # the night it happens on (index into the schedule's nights)
    kind: str
    dataset: str = ""
    session: str = ""  # the file's session, for the vendor's events
    detail: tuple = ()  # (key, value) pairs: the kill delay, the crash point, how long a file is missing

    def get(self, key, default=None):
        return dict(self.detail).get(key, default)

    def line(self) -> str:
        where = f" {self.dataset} {self.session}" if self.dataset else (f" {self.session}" if self.session else "")
        extra = " ".join(f"{k}={v}" for k, v in self.detail)
        return f"night {self.night:3d}: {self.kind}{where}{' ' + extra if extra else ''}"


@dataclass
class Schedule:
    seed: int
    sessions: list[str]  # night i runs after session i's files are due
    events: list[Event] = field(default_factory=list)

    def on(self, night: int) -> list[Event]:
        return [e for e in self.events if e.night == night]

    def run_time(self, night: int) -> dt.datetime:
        """When night ``night``'s run starts (UTC): the calendar day after its session, 12:30 New York."""
        day = dt.date.fromisoformat(self.sessions[night]) + dt.timedelta(days=1)
        return dt.datetime.combine(day, RUN_TIME, NEW_YORK).astimezone(dt.timezone.utc)

    def clock(self, night: int) -> dt.datetime:
        """The clock the night's run reads (QUANTMINI_NOW): its run time, or a jumped one."""
        back = [e for e in self.on(night) if e.kind == "clock_back"]
        if back:
            return self.run_time(night - int(back[0].get("nights")))
        return self.run_time(night)

    def skipped(self, night: int) -> bool:
        """No run this night: the machine was off (the clock jumps forward over it)."""
        return any(e.kind == "clock_forward" and e.night <= night < e.night + int(e.get("nights"))
                   for e in self.events)

    # -- the vendor's state --------------------------------------------------------------
    def withheld(self, night: int) -> set[tuple[str, str]]:
        """(dataset, session) files not published when night ``night`` runs."""
        out = set()
        for e in self.events:
            if e.kind in ("late", "missing_days", "never_published"):
                first = self.sessions.index(e.session)  # the night its file was due
                last = len(self.sessions) if e.kind == "never_published" else e.night + int(e.get("nights"))
                if first <= night < last:
                    out.add((e.dataset, e.session))
        return out

    def never_published(self) -> set[tuple[str, str]]:
        return {(e.dataset, e.session) for e in self.events if e.kind == "never_published"}

    def overdue_hours(self, session: str, now: dt.datetime) -> float:
        due = dt.datetime.combine(dt.date.fromisoformat(session) + dt.timedelta(days=1), PUBLISH_TIME, NEW_YORK)
        return (now - due).total_seconds() / 3600

    # -- what each night must end with ---------------------------------------------------
    def expected(self, night: int) -> list[object]:
        """The exit codes of the night's runs, in start order ([] when no run)."""
        if self.skipped(night):
            return []
        events = self.on(night)
        kinds = {e.kind for e in events}
        if kinds & {"sigkill", "crash_point"}:
            first = KILLED
        elif kinds & {"bad_then_good", "disk_full", "rest_fails"} or self._overdue(night):
            first = 1  # a job failed; a file overdue past the alert threshold fails its job, loudly
        else:
            first = 0
        return [first, 75] if "concurrent_runs" in kinds else [first]

    def _overdue(self, night: int) -> bool:
        """A file the run would fetch is still unpublished past the alert threshold. A run
        looks back at most ``catchup_sessions`` (5) sessions for pending files, and a clock
        jumped back reads an older window: both bound what it can see."""
        now = self.clock(night)
        last = max(i for i in range(len(self.sessions)) if self.run_time(i) <= now)
        seen = set(self.sessions[max(0, last - 4):last + 1])
        return any(s in seen and self.overdue_hours(s, now) > PENDING_ALERT_HOURS
                   for _, s in self.withheld(night))


def build(seed: int, sessions: list[str], quiet_nights: int = 3, rate: float = 0.6,
          splits: tuple[tuple[str, str], ...] = (), renames: tuple[tuple[str, str, str], ...] = ()) -> Schedule:
    """Every kind at least once (in a seeded order, spread over the nights after the first
    ``quiet_nights``), then more drawn at ``rate`` per night; at most one machine event and
    one event per file per night, and no event on a file another event holds. ``splits``
    ((ticker, execution date)) and ``renames`` ((old, new, first date of new)) are the
    vendor's, for the late split and the ticker change."""
    rng = random.Random(seed)
    sched = Schedule(seed, list(sessions))
    n = len(sessions)
    free = list(range(quiet_nights, n - 2))  # the last two nights: a never-published file only
    if len(free) < len(KINDS):
        raise ValueError(f"{n} nights hold too few for every kind of event ({len(KINDS)} after {quiet_nights} quiet ones)")
    busy_files: dict[tuple[str, str], int] = {}
    machine_nights: set[int] = set()
    kinds = [k for k in KINDS if k != "never_published"]
    rng.shuffle(kinds)
    for kind in kinds:  # each kind once, on the first of the free nights (in a seeded order) that takes it
        for night in rng.sample(free, len(free)):
            event = _draw(rng, sched, night, kind, busy_files, machine_nights)
            if event is not None:
                sched.events.append(event)
                break
        else:
            raise ValueError(f"seed {seed}: no night takes a {kind} event")
    for night in free:
        if rng.random() < rate:
            event = _draw(rng, sched, night, rng.choice(VENDOR[:-1] + NETWORK), busy_files, machine_nights)
            if event is not None:
                sched.events.append(event)
    sched.events.append(_late_dividend(random.Random(f"{seed}-late-actions"), n, quiet_nights))
    for kind, choices in (("late_split", [(t, d) for t, d in splits]), ("ticker_change", [(new, d) for _, new, d in renames])):
        event = _late_listing(random.Random(f"{seed}-{kind}"), kind, sessions, choices, quiet_nights)
        if event is not None:
            sched.events.append(event)
    sched.events.sort(key=lambda e: (e.night, ORDER.index(e.kind)))
    sched.events.append(_never(rng, sched))
    return sched


def _late_dividend(rng, n: int, quiet_nights: int) -> Event:
    back = rng.randint(1, 2 * REFRESH_DAYS)
    return Event(rng.randint(quiet_nights + back, n - 3), "late_dividend", detail=(("back", back),))


def _late_listing(rng, kind: str, sessions: list[str], choices: list[tuple[str, str]], quiet_nights: int) -> Event | None:
    """One of ``choices`` ((ticker, date) in the window, after the quiet nights), listed by the
    vendor ``back`` sessions after its date (at the latest on the third night from the end,
    so that the last nights run with it listed)."""
    last = len(sessions) - 3
    fits = sorted((t, d) for t, d in choices if d in sessions and quiet_nights <= sessions.index(d) < last)
    if not fits:
        return None
    ticker, date = rng.choice(fits)
    back = min(rng.randint(1, 2 * REFRESH_DAYS), last - sessions.index(date))
    return Event(sessions.index(date) + back, kind, session=date, detail=(("ticker", ticker), ("back", back)))


def _draw(rng, sched: Schedule, night: int, kind: str, busy: dict, machine: set) -> Event | None:
    n = len(sched.sessions)
    if kind in MACHINE:
        if night in machine or any(e.night == night and e.kind in ("bad_then_good", "rest_fails")
                                   for e in sched.events):
            return None
        # a skipped night, or a night whose clock is behind, holds nothing else
        span = rng.randint(1, 2) if kind in ("clock_forward", "clock_back") else 1
        if kind == "clock_forward" and (night + span >= n - 2 or any(e.night in range(night, night + span + 1)
                                                                        for e in sched.events)):
            return None
        if any(e.kind == "clock_forward" and e.night <= night < e.night + int(e.get("nights")) + 1
               for e in sched.events):
            return None
        machine.update(range(night, night + span + (kind == "clock_forward")))
        if kind == "sigkill":
            # within a night's first seconds: a night takes 5 s or more here, so the kill lands
            # mid-run (a later one would find the run finished, and the night's code not KILLED)
            return Event(night, kind, detail=(("after_s", round(rng.uniform(0.5, 4.0), 1)),))
        if kind == "crash_point":
            return Event(night, kind, detail=(("point", rng.choice(CRASH_POINTS)),))
        if kind in ("clock_forward", "clock_back"):
            return Event(night, kind, detail=(("nights", span),))
        return Event(night, kind)
    if kind in NETWORK:
        if night in machine and kind == "rest_fails":
            return None
        if any(e.night == night and e.kind in NETWORK for e in sched.events):
            return None
        return Event(night, kind)
    # the vendor's events: a file of tonight's session, or of an earlier one for corrections
    dataset = rng.choice(DATASETS[:2] if kind == "phantom_symbol" else DATASETS)
    if kind == "correction_recent":
        back = rng.randint(1, REFRESH_DAYS - 1)
    elif kind == "correction_old":
        back = rng.randint(REFRESH_DAYS + 1, REFRESH_DAYS + 8)
    else:
        back = 0
    if night - back < 0:
        return None
    session = sched.sessions[night - back]
    file = (dataset, session)
    if any(f == file for f in busy) or (kind in ("bad_then_good", "missing_days", "late") and night in machine):
        return None
    if kind == "bad_then_good" and any(e.night == night and e.kind in ("bad_then_good",) for e in sched.events):
        return None
    nights = {"late": 1, "missing_days": rng.randint(2, 3)}.get(kind)
    if nights and night + nights >= n - 1:
        return None
    busy[file] = night
    detail = (("nights", nights),) if nights else ()
    if kind == "bad_then_good":
        detail = (("how", rng.choice(("truncated_gzip", "header_only", "negative_price"))),)
    return Event(night, kind, dataset, session, detail)


def _never(rng, sched: Schedule) -> Event:
    """A file the vendor never publishes: one of the last night's session (so that the run
    still reads it as waiting, not as overdue, and ``quantmini gaps`` must list it)."""
    night = len(sched.sessions) - 1
    return Event(night, "never_published", rng.choice(DATASETS[1:]), sched.sessions[night])
