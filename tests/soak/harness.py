"""The soak: months of nights through ``scripts/daily_update.sh``, as cron runs it, against
the sandbox, under a seeded schedule of faults (tests/soak/schedule.py); then the oracle.

Each night the harness plays the vendor (withholds, publishes, corrects and breaks files
over the S3 protocol, injects REST faults), the machine (SIGKILL, a crash point, a full disk,
a second run at once, a clock that jumps) and cron (QUANTMINI_NOW pinned to the night's
clock), runs the wrapper in a checkout of its own, and checks the night's exit codes against
what the events call for. After the last night, one reconcile run re-checks the whole window
(``--days-back N``, ``refresh_days=N``, what a monthly cron line does), and the oracle
builds the vendor's final state from an empty lake and compares, file by file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import schedule as sched_mod
from .schedule import KILLED, Event, Schedule

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: a checkout as cron runs it: the workflow's files, linked
CHECKOUT = ("Snakefile", "rules", "scripts", "config", "profiles", "envs", "report")
#: distinctive credentials: the secret check searches every file for them
S3_KEY, S3_SECRET, API_KEY = "QMSOAKS3ACCESSKEY0C1D", "qm-soak-s3-secret-8e2f7a61", "qm-soak-api-key-4b9d2c7e"
PHANTOM = "ZZPHANTOMQ"
KEEP_RUN_LOGS = 30  # the wrapper's run-log retention, below the soak's nights so that it is exercised


@dataclass
class Night:
    index: int
    session: str
    clock: str
    events: list[str]
    expected: list
    got: list = field(default_factory=list)
    alert: str = ""
    seconds: float = 0.0
    growth: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.expected == self.got


class Vendor:
    """The vendor's side of the sandbox: its S3 bucket and its admin routes."""

    def __init__(self, state: dict):
        import boto3
        from botocore.config import Config

        self.rest = state["rest_url"]
        self.s3 = boto3.client("s3", endpoint_url=state["s3_endpoint"], aws_access_key_id="vendor",
                               aws_secret_access_key="vendor", region_name="us-east-1",
                               config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        self.originals: dict[str, bytes] = {}

    @staticmethod
    def key(dataset: str, session: str) -> str:
        from quantmini.datasets import FLATFILE_DATASETS

        return FLATFILE_DATASETS[dataset].s3_key(session)

    def _admin(self, action: str, dataset: str, session: str) -> None:
        import requests

        r = requests.post(f"{self.rest}/_sandbox/{action}", params={"dataset": dataset, "date": session}, timeout=120)
        r.raise_for_status()

    def publish(self, dataset: str, session: str) -> None:
        self._admin("publish", dataset, session)

    def unpublish(self, dataset: str, session: str) -> None:
        self._admin("unpublish", dataset, session)

    def body(self, dataset: str, session: str) -> bytes:
        key = self.key(dataset, session)
        if key not in self.originals:
            self.publish(dataset, session)  # the generator's file, whatever was there before
            self.originals[key] = self.s3.get_object(Bucket="flatfiles", Key=key)["Body"].read()
        return self.originals[key]

    def put(self, dataset: str, session: str, body: bytes) -> None:
        self.s3.put_object(Bucket="flatfiles", Key=self.key(dataset, session), Body=body)

    def late_dividend(self, start: str, end: str) -> tuple[str, str] | None:
        """The latest dividend the vendor lists with an ex-date in [start, end] (ties: the
        first ticker), as (ticker, ex-date): the one a late_dividend event withholds."""
        import requests

        r = requests.get(f"{self.rest}/v3/reference/dividends", timeout=60,  # the key in a header, never a URL
                         headers={"Authorization": f"Bearer {API_KEY}"},
                         params={"ex_dividend_date.gte": start, "ex_dividend_date.lte": end, "limit": 1000})
        r.raise_for_status()
        rows = r.json()["results"]
        if not rows:
            return None
        latest = max(d["ex_dividend_date"] for d in rows)
        return min(d["ticker"] for d in rows if d["ex_dividend_date"] == latest), latest

    def action(self, verb: str, ticker: str, date: str, kind: str = "dividend") -> None:
        import requests

        requests.post(f"{self.rest}/_sandbox/actions/{verb}", params={"kind": kind, "ticker": ticker, "date": date},
                      timeout=30).raise_for_status()

    def faults(self, *faults: dict) -> None:
        import requests

        requests.post(f"{self.rest}/_sandbox/faults", json={"faults": list(faults)}, timeout=30).raise_for_status()

    def clear_faults(self) -> None:
        import requests

        requests.delete(f"{self.rest}/_sandbox/faults", timeout=30).raise_for_status()
        requests.delete(f"{self.rest}/_sandbox/s3_faults", timeout=30).raise_for_status()

    def s3_faults(self, *faults: dict) -> None:
        import requests

        requests.post(f"{self.rest}/_sandbox/s3_faults", json={"faults": list(faults)}, timeout=30).raise_for_status()


#: the ticker whose changes the soak pulls (the sandbox's QMOLD -> QMNEW; ticker_events, daily)
RENAMED = "QMNEW"
#: the sandbox's kind (/_sandbox/actions) of each late-listing event
LATE_KINDS = {"late_dividend": "dividend", "late_split": "split", "ticker_change": "ticker_change"}


def vendor_events(tickers: int, option_underlyings: int, sessions: list[str]):
    """The splits ((ticker, execution date)) and ticker changes ((old, new, first date of the
    new)) the sandbox's market holds in the window: what the late_split and ticker_change
    events can choose from (the market model is deterministic, so no sandbox is needed)."""
    from quantmini.sandbox.market import Market

    m = Market(n_tickers=tickers, option_underlyings=option_underlyings)
    first, last = sessions[0], sessions[-1]
    splits = tuple((r.ticker, r.execution_date.isoformat()) for r in m.splits().itertuples()
                   if first <= r.execution_date.isoformat() <= last)
    renames = tuple((old, str(m.universe.symbols[i]), dt.date.fromordinal(int(o)).isoformat())
                    for i, old, o in m.universe.renames if first <= dt.date.fromordinal(int(o)).isoformat() <= last)
    return splits, renames


def _gz(text: str) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as fh:
        fh.write(text.encode())
    return buf.getvalue()


def corrected(body: bytes, row: int) -> bytes:
    """The file with one data row's volume raised by 100: what a vendor correction changes."""
    lines = gzip.decompress(body).decode().splitlines()
    header = lines[0].split(",")
    i = 1 + row % (len(lines) - 1)
    cells = lines[i].split(",")
    col = header.index("volume")
    cells[col] = str(int(float(cells[col])) + 100) if "." not in cells[col] else f"{float(cells[col]) + 100:.4f}"
    lines[i] = ",".join(cells)
    return _gz("\n".join(lines) + "\n")


def with_phantom(body: bytes) -> bytes:
    """The file with a phantom symbol: a copy of its first row under a ticker that does not exist."""
    lines = gzip.decompress(body).decode().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("ticker")] = PHANTOM
    return _gz("\n".join([*lines, ",".join(cells)]) + "\n")


def broken(body: bytes, how: str) -> bytes:
    lines = gzip.decompress(body).decode().splitlines()
    if how == "truncated_gzip":
        return body[: len(body) // 2]
    if how == "header_only":
        return _gz(lines[0] + "\n")
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("close")] = "-1.5"
    return _gz("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")


class Soak:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.root = Path(args.workdir).resolve()
        self.work = self.root / "night"
        self.sandbox_proc = None
        self.state: dict = {}
        self.late: dict[Event, tuple[str, str] | None] = {}  # late listings: the (ticker, date) withheld

    # -- setup ----------------------------------------------------------------------------
    def checkout(self, where: Path) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        for name in CHECKOUT:
            link = where / name
            if not link.exists():
                link.symlink_to(REPO / name)
        return where

    def start_sandbox(self) -> None:
        from quantmini.sandbox import control

        folder = self.root / "sandbox"
        folder.mkdir(parents=True, exist_ok=True)
        self.sandbox_proc = control.launch(
            ["--s3-port", str(control.free_port()), "--rest-port", str(control.free_port()),
             "--tickers", str(self.args.tickers), "--start", self.args.start, "--end", self.args.end,
             "--intraday-days", "400", "--option-underlyings", str(self.args.option_underlyings),
             "--seed", "42", "--no-fixtures"],
            folder / "state.json", folder / "sandbox.log", env=dict(os.environ, QUANTMINI_SANDBOX_API_KEY=API_KEY))
        self.state = control.wait_ready(self.sandbox_proc, folder / "state.json", folder / "sandbox.log", timeout=300)

    def stop_sandbox(self) -> None:
        if self.sandbox_proc is not None:
            self.sandbox_proc.terminate()
            self.sandbox_proc.wait(timeout=30)

    def config(self, extra: dict | None = None) -> list[str]:
        cfg = {"s3_endpoint": self.state["s3_endpoint"], "rest_base_url": self.state["rest_url"], "date": "",
               "days_back": 1, "datasets": "[" + ",".join(sched_mod.DATASETS) + "]",
               "rest_datasets": "[splits,dividends,ticker_events]", "fundamental_tickers": f"[{RENAMED}]",
               "rest_schedule": "{ticker_events: daily}", "rate_limit_calls": 0,
               "qlib_universes": "[10,20]", "qlib_minute_universe": "liquid20", **(extra or {})}
        return ["--config", *[f"{k}={v}" for k, v in cfg.items()]]

    def env(self, clock: str, extra: dict | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANTMINI_", "QUANTLAKE_"))}
        env.update(MASSIVE_S3_ACCESS_KEY=S3_KEY, MASSIVE_S3_SECRET_KEY=S3_SECRET, MASSIVE_API_KEY=API_KEY,
                   QUANTMINI_NOW=clock, QUANTMINI_KEEP_RUN_LOGS=str(KEEP_RUN_LOGS), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", **(extra or {}))
        return env

    def wrapper(self, where: Path, clock: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        cmd = [str(where / "scripts" / "daily_update.sh"), *args, "--profile", "profiles/demo", "--"]
        return subprocess.Popen(cmd + self.config(), cwd=where, env=self.env(clock, env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    # -- one night ------------------------------------------------------------------------
    def vendor_before(self, s: Schedule, night: int, vendor: Vendor) -> None:
        """Make the vendor's files what they are when night ``night`` runs."""
        for e in s.events:
            if e.kind not in sched_mod.LATE_ACTIONS:
                continue
            kind = LATE_KINDS[e.kind]
            if night == 0:  # withheld from the start: the daily pull reaches 90 days ahead
                if e.kind == "late_dividend":
                    self.late[e] = vendor.late_dividend(s.sessions[0], s.sessions[e.night - int(e.get("back"))])
                else:
                    self.late[e] = (e.get("ticker"), e.session)
                if self.late[e]:
                    vendor.action("withhold", *self.late[e], kind=kind)
                print(f"  {e.line()}: {kind} {self.late[e]} withheld until then", flush=True)
            elif night == e.night and self.late.get(e):
                vendor.action("announce", *self.late[e], kind=kind)
        withheld_now, withheld_before = s.withheld(night), s.withheld(night - 1) if night else set()
        for ds, sess in sorted(withheld_before - withheld_now):
            vendor.publish(ds, sess)
        for ds, sess in sorted(withheld_now - withheld_before):
            vendor.unpublish(ds, sess)
        for e in s.events:
            if e.kind == "bad_then_good" and e.night == night:
                vendor.put(e.dataset, e.session, broken(vendor.body(e.dataset, e.session), e.get("how")))
            elif e.kind == "bad_then_good" and e.night == night - 1:
                vendor.put(e.dataset, e.session, vendor.body(e.dataset, e.session))
            elif e.kind in ("correction_recent", "correction_old") and e.night == night:
                vendor.put(e.dataset, e.session, corrected(vendor.body(e.dataset, e.session), s.seed + night))
            elif e.kind == "phantom_symbol" and e.night == night:
                vendor.put(e.dataset, e.session, with_phantom(vendor.body(e.dataset, e.session)))
            elif e.kind == "phantom_symbol" and e.night == night - 2:
                vendor.put(e.dataset, e.session, vendor.body(e.dataset, e.session))  # withdrawn, within refresh_days
        vendor.clear_faults()
        kinds = {e.kind for e in s.on(night)}
        if "rest_storm" in kinds:
            # one of each, back to back on the next requests: within one request's retry budget
            # (rest_max_retries, 5), so the night must end as a clean one (a longer run of
            # failures on one request is the rest_fails event)
            vendor.faults({"kind": "429", "retry_after": 1}, {"kind": "503"}, {"kind": "truncate"}, {"kind": "reset"})
        if "rest_slow" in kinds:
            vendor.faults({"kind": "slow", "delay": 2, "count": 3})
        if "rest_fails" in kinds:
            vendor.faults({"kind": "500", "count": 200, "path": "/v3/reference/splits"})
        if "s3_storm" in kinds:
            # the S3 side: a SlowDown on the night's first listing or read, then an internal
            # error, a body cut short, a connection reset mid-download and a slow answer on
            # the next file reads; botocore's and s3transfer's retries absorb them (exit 0)
            vendor.s3_faults({"kind": "503", "path": "/flatfiles"}, {"kind": "500", "path": "/flatfiles/"},
                             {"kind": "truncate", "path": "/flatfiles/"}, {"kind": "reset", "path": "/flatfiles/"},
                             {"kind": "slow", "delay": 1, "path": "/flatfiles/"})

    def play(self, s: Schedule, night: int, vendor: Vendor) -> Night:
        events = s.on(night)
        record = Night(night, s.sessions[night], s.clock(night).isoformat(), [e.line() for e in events],
                       s.expected(night))
        self.vendor_before(s, night, vendor)
        if s.skipped(night):
            return record
        kinds = {e.kind: e for e in events}
        env = {}
        if "crash_point" in kinds:
            env["QUANTMINI_CRASH_AT"] = kinds["crash_point"].get("point")
        if "disk_full" in kinds:
            env["QUANTMINI_DISK_FULL"] = "1"
        clock = record.clock
        t0 = time.monotonic()
        first = self.wrapper(self.work, clock, [], env)
        procs = [first]
        if "concurrent_runs" in kinds:
            time.sleep(1.0)  # cron's run holds the lake; a user starts a backfill by hand
            procs.append(self.wrapper(self.work, clock, ["--days-back", "3"]))
        if "sigkill" in kinds:
            try:
                first.wait(timeout=float(kinds["sigkill"].get("after_s")))
            except subprocess.TimeoutExpired:
                os.killpg(first.pid, signal.SIGKILL)
        outs = [p.communicate() for p in procs]
        record.seconds = round(time.monotonic() - t0, 1)
        for p, (out, err) in zip(procs, outs):
            code = p.returncode
            record.got.append(KILLED if code in (-9, 137) else code)
            lines = [ln for ln in err.splitlines() if ln.startswith("daily_update.sh:") and "profile" not in ln]
            if lines and not record.alert:
                record.alert = lines[-1]
        vendor.clear_faults()
        record.growth = growth(self.work)
        return record

    # -- the oracle -------------------------------------------------------------------------
    def reconcile(self, s: Schedule) -> int:
        n = len(s.sessions)
        clock = s.run_time(n - 1).isoformat()
        proc = subprocess.run([str(self.work / "scripts" / "daily_update.sh"), "--profile", "profiles/demo", "--",
                               *self.config({"days_back": n, "refresh_days": n})],
                              cwd=self.work, env=self.env(clock), capture_output=True, text=True)
        (self.root / "reconcile.log").write_text(proc.stdout + proc.stderr)
        return proc.returncode

    def clean_build(self, s: Schedule) -> Path:
        """The window built in one run from the vendor's final state. Its corporate-action
        pull reaches back as far as the soak's pulls reached (their 2-year backfills on the
        1st of each month start a month apart): the soak's lake legitimately holds the
        dividends of that extra month, and the clean build must be asked for the same span."""
        where = self.checkout(self.root / "clean")
        n = len(s.sessions)
        clock = s.run_time(n - 1).isoformat()
        pull_date = dt.date.fromisoformat(clock_date(s, n - 1))
        since = action_coverage(self.work / "quantlake") or pull_date
        proc = subprocess.run([str(where / "scripts" / "daily_update.sh"), "--profile", "profiles/demo", "--",
                               *self.config({"start": s.sessions[0], "end": s.sessions[-1],
                                             "pull_date": pull_date.isoformat(),
                                             "rest_schedule": f"{{corporate_actions_backfill_day: {pull_date.day}, "
                                                              "ticker_events: daily}",
                                             "rest_windows": "{corporate_actions_backfill_days: "
                                                             f"{max(1, (pull_date - since).days)}}}"})],
                              cwd=where, env=self.env(clock), capture_output=True, text=True)
        (self.root / "clean.log").write_text(proc.stdout + proc.stderr)
        return where


def action_coverage(lake: Path) -> dt.date | None:
    """The first date any corporate-action pull of ``lake`` covered (None: no dated pull)."""
    from quantmini.rest.windows import Window

    starts = [Window.parse(p.name.split("=", 1)[1]).start
              for dataset in ("splits", "dividends") for p in lake.glob(f"bronze/{dataset}/pull_date=*/window=*")]
    return min((d for d in starts if d is not None), default=None)


def clock_date(s: Schedule, night: int) -> str:
    """The New York calendar date of a night's clock: the reconcile run's pull date."""
    return s.run_time(night).astimezone(sched_mod.NEW_YORK).date().isoformat()


def growth(work: Path) -> dict:
    """Files and bytes of what grows with nights: logs, sidecars, markers, Snakemake's metadata."""
    def measure(path: Path, pattern: str = "*") -> tuple[int, int]:
        files = [p for p in path.rglob(pattern) if p.is_file()] if path.exists() else []
        return len(files), sum(p.stat().st_size for p in files)

    lake = work / "quantlake"
    return {"logs": measure(work / "logs"), "run_logs": measure(work / "logs" / "runs", "*.log"),
            "snakemake_logs": measure(work / ".snakemake" / "log", "*.log"), "sidecars": measure(lake / "metadata", "*.json"),
            "markers": measure(lake, ".*"), "snakemake": measure(work / ".snakemake"),
            "lake": measure(lake)}


#: what the lake holds that is about the runs, not the data: compared by the fields that are data
REST_PULLS = ("bronze/splits/", "bronze/dividends/", "bronze/ticker_events/")
REST_HISTORY = (*REST_PULLS, *(f"metadata/{p}" for p in REST_PULLS),
                "metadata/silver/",
                # the store-level jobs' records: one per night's update, the clean build's one
                "metadata/gold/stocks_daily_qlib/", "metadata/gold/stocks_minute_qlib/",
                "metadata/gold/qlib_universes/", "metadata/gold/qlib_fundamentals/")
PULL_PROVENANCE = ("pulled_at", "source_pull_date")


def data_digest(lake: Path) -> dict[str, str]:
    """sha256 of every data file; sidecars by status and records, watermarks by date;
    Parquet files of REST pulls and silver without when they were pulled; run state and
    views of the runs (reports, quality checks, the job summary) aside."""
    import pyarrow.parquet as pq

    out = {}
    for p in sorted(lake.rglob("*")):
        rel = p.relative_to(lake).as_posix()
        if not p.is_file() or p.name == ".lock" or rel.startswith(".quantmini/") or rel.startswith("metadata/report/"):
            continue
        if rel.startswith("gold/qlib/.quantmini/") and p.name in ("lock", "state.json"):
            continue
        if rel.startswith(("metadata/quality/", "metadata/summary")):
            continue  # the checks of the last run, and the run summary: views of the runs, not data
        if rel.startswith("metadata/") and p.suffix == ".json":
            doc = json.loads(p.read_bytes())
            if p.name == "watermark.json":
                out[rel] = f"watermark {doc.get('date')}"
            elif isinstance(doc, dict) and "status" in doc:
                out[rel] = f"{doc.get('status')} records={doc.get('records')}"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            continue
        if rel.startswith((*REST_PULLS, "silver/")) and p.suffix == ".parquet":
            table = pq.read_table(p)
            table = table.drop_columns([c for c in PULL_PROVENANCE if c in table.column_names])
            out[rel] = hashlib.sha256(table.to_pandas().to_csv(index=False).encode()).hexdigest()
            continue
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def lake_differences(soak: dict[str, str], clean: dict[str, str]) -> list[str]:
    """Files whose digests differ, or that one lake holds and the other does not. The REST
    pulls are each lake's history, compared where both hold the same pull: the soak has one
    per night, the clean build its one run's (asked for the span the soak's covered, so its
    window differs); silver, built from them, is compared whole. So are the records of the
    nightly store updates (their watermarks are compared)."""
    out = []
    for k in sorted(set(soak) | set(clean)):
        if (k not in clean or k not in soak) and k.startswith(REST_HISTORY):
            continue
        if soak.get(k) != clean.get(k):
            out.append(k)
    return out


def secrets_found(root: Path) -> list[str]:
    hits = []
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            for secret in (S3_SECRET, API_KEY, S3_KEY):
                if secret.encode() in data:
                    hits.append(f"{p.relative_to(root)}: holds {secret[:8]}…")
    return hits


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="make soak", description=__doc__)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", default="2024-05-01", help="first session of the soak (the sandbox's first date)")
    p.add_argument("--end", default="2024-06-28",
                   help="last session of the soak: two months by default, with the sandbox's June splits "
                        "(NVDA, QMFS, QMRS) and ticker change (QMOLD -> QMNEW) for the late_split and "
                        "ticker_change events")
    p.add_argument("--tickers", type=int, default=40)
    p.add_argument("--option-underlyings", type=int, default=3)
    p.add_argument("--workdir", default="soak-work", help="scratch folder (removed first)")
    p.add_argument("--events", action="store_true", help="print the seed's events and stop (replay them with --seed)")
    args = p.parse_args(argv)

    import shutil

    from quantmini.sessions import sessions_between

    sessions = [d.isoformat() for d in sessions_between(dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end))]
    splits, renames = vendor_events(args.tickers, args.option_underlyings, sessions)
    s = sched_mod.build(args.seed, sessions, splits=splits, renames=renames)
    print(f"soak seed {args.seed}: {len(sessions)} nights ({sessions[0]} .. {sessions[-1]}), {len(s.events)} events")
    for e in s.events:
        print("  " + e.line())
    if args.events:
        return 0
    soak = Soak(args)
    shutil.rmtree(soak.root, ignore_errors=True)
    soak.checkout(soak.work)
    soak.start_sandbox()
    failures: list[str] = []
    nights: list[Night] = []
    try:
        vendor = Vendor(soak.state)
        for i in range(len(sessions)):
            night = soak.play(s, i, vendor)
            nights.append(night)
            mark = "ok  " if night.ok else "FAIL"
            print(f"{mark} night {i:3d} {night.session} clock {night.clock[:16]} expected {night.expected} got {night.got} "
                  f"{night.seconds:6.1f}s {night.alert}", flush=True)
            if not night.ok:
                failures.append(f"night {i}: expected {night.expected}, got {night.got} ({'; '.join(night.events)})")
        code = soak.reconcile(s)
        if code != 0:
            failures.append(f"reconcile run: exit {code}")
        clean = soak.clean_build(s)
        mine, theirs = data_digest(soak.work / "quantlake"), data_digest(clean / "quantlake")
        differ = lake_differences(mine, theirs)
        verdict = "lake equals a clean build" if not differ else f"lake differs from a clean build in {len(differ)} files"
        if differ:
            failures.append(verdict + ": " + ", ".join(differ[:10]))
        last = nights[-1].growth if nights else {}
        for key in ("run_logs", "snakemake_logs"):
            if last.get(key, (0, 0))[0] > KEEP_RUN_LOGS + 1:
                failures.append(f"{key}: {last[key][0]} files after {len(nights)} nights, more than the {KEEP_RUN_LOGS} kept")
        hits = secrets_found(soak.root / "night")
        if hits:
            failures.append("secrets: " + "; ".join(hits[:5]))
        outside = sorted(x.name for x in soak.work.iterdir() if x.name not in (*CHECKOUT, "quantlake", "logs", ".snakemake"))
        if outside:
            failures.append(f"files outside the lake: {outside}")
        gaps = subprocess.run([str(BIN / "quantmini"), "gaps", "--json", "--profile", "profiles/demo",
                               "--datasets", *sched_mod.DATASETS],
                              cwd=soak.work, env=soak.env(s.run_time(len(sessions) - 1).isoformat()),
                              capture_output=True, text=True)
        listed = set()
        for g in json.loads(gaps.stdout or "[]"):
            listed |= {(g["dataset"], d.isoformat()) for d in sessions_between(
                dt.date.fromisoformat(g["start"]), dt.date.fromisoformat(g["end"]))}
        if listed != s.never_published():
            failures.append(f"gaps lists {sorted(listed)}, the vendor never published {sorted(s.never_published())}")
    finally:
        soak.stop_sandbox()
    kinds = Counter(e.kind for e in s.events)
    print(f"\nseed {args.seed}: {len(nights)} nights, {len(s.events)} events: "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    walls = sorted(n.seconds for n in nights if n.got)
    if walls:
        print(f"night wall time: median {walls[len(walls) // 2]:.1f}s, max {walls[-1]:.1f}s")
    if nights:
        first, last = nights[0].growth, nights[-1].growth
        for key in last:
            print(f"growth {key:<9}: {first.get(key, (0, 0))[0]:>6} -> {last[key][0]:>6} files, "
                  f"{first.get(key, (0, 0))[1] / 1e6:8.2f} -> {last[key][1] / 1e6:8.2f} MB")
    print(f"checks: {len(failures)} failed" + "".join(f"\n  FAIL {f}" for f in failures))
    print(f"verdict: {'PASS' if not failures else 'FAIL'}")
    (soak.root / "result.json").write_text(json.dumps({"seed": args.seed, "nights": [n.__dict__ for n in nights],
                                                       "failures": failures}, indent=1, default=str))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
