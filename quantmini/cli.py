"""The ``quantmini`` command: the sandbox, the metadata summary, and calendar helpers.

The workflow itself runs with ``snakemake``; this command covers what is not a file target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from . import metadata
from .paths import Lake, resolve_lake_root


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import control

    if args.action == "start":
        missing = control.missing_modules()
        if missing:
            print(f"quantmini sandbox: the sandbox is an optional part, not installed (missing: {', '.join(missing)}); "
                  "install it with: pip install -e '.[sandbox]'", file=sys.stderr)
            return 2
        extra: list[str] = []
        for opt in ("start", "end", "tickers", "seed", "s3_port", "rest_port", "datasets", "intraday_days", "option_underlyings"):
            value = getattr(args, opt)
            if value is not None:
                extra += [f"--{opt.replace('_', '-')}", str(value)]
        if args.no_fixtures:
            extra.append("--no-fixtures")
        try:
            state = control.start(extra)
        except RuntimeError as exc:
            print(f"quantmini sandbox: {exc}", file=sys.stderr)
            return 1
        print(f"sandbox running (pid {state['pid']}): S3 {state['s3_endpoint']} bucket flatfiles, REST {state['rest_url']}")
        print(f"  files published for {state['start']} .. {state['end']}, {state['tickers']} tickers, seed {state['seed']}")
        return 0
    if args.action == "stop":
        print("sandbox stopped" if control.stop() else "sandbox was not running")
        return 0
    state = control.read_state()
    if not state:
        print("sandbox is not running")
        return 3
    print(json.dumps(state, indent=2))
    return 0


def _mirrored(lake: Lake) -> Lake:
    """The lake, its sidecars first mirrored down when it lives in an object store
    (``QUANTMINI_LAKE_STORE``, see quantmini/store.py)."""
    from .store import sync_sidecars_from_env

    sync_sidecars_from_env(lake.root)
    return lake


def _cmd_metadata(args: argparse.Namespace) -> int:
    lake = _mirrored(Lake(resolve_lake_root(args.lake)))
    try:
        summaries = metadata.summarize(metadata.iter_sidecars(lake.metadata_root()))
    except ValueError as exc:
        print(f"quantmini metadata: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([metadata.as_dict(s) for s in summaries], indent=2))
    else:
        print(f"Metadata under {lake.metadata_root()}\n")
        print(metadata.format_summary(summaries))
    failed = [f"{s.layer}/{s.data_type}" for s in summaries if s.failed]
    if failed:
        # A script (cron, CI) can test the exit code: 1 when any job's latest record failed.
        print(f"quantmini metadata: failed jobs in {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _date(value: str | None, option: str) -> dt.date | None:
    """A date argument, or None when absent; a bad one is a ValueError naming the option
    (``main`` prints it in one line, exit 2)."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{option} {value!r} is not a valid date (YYYY-MM-DD)") from None


def _cmd_sessions(args: argparse.Namespace) -> int:
    from .sessions import calendar_bounds, sessions_between

    start, end = _date(args.start, "start"), _date(args.end, "end")
    first, last = calendar_bounds()
    if start < first or end > last:
        print(f"quantmini sessions: the XNYS calendar covers {first} .. {last}", file=sys.stderr)
        return 2
    for d in sessions_between(start, end):
        print(d.isoformat())
    return 0


def _config(args: argparse.Namespace) -> dict:
    """The effective config of ``--profile``/``--config``, with ``--lake`` on top."""
    from . import effective

    config = effective.load(args.profile, args.config)
    if getattr(args, "lake", None):
        config["lake_root"] = args.lake
    return config


def _window(args: argparse.Namespace, config: dict):
    """The run's sessions and datasets as the workflow resolves them (settings.resolve)."""
    from . import settings

    for key in ("date", "start", "end"):
        if getattr(args, key, None):
            config[key] = getattr(args, key)
    if getattr(args, "days_back", None):
        config["days_back"] = args.days_back
    return settings.resolve_window(config)


def _cmd_config_show(args: argparse.Namespace) -> int:
    from . import effective, settings

    config = _config(args)
    shown = effective.masked(config)
    try:
        plan = settings.resolve(dict(config))
        sessions = plan.sessions
        shown["(run)"] = {
            "lake": plan.lake.root,
            "sessions": f"{sessions[0]} .. {sessions[-1]} ({len(sessions)})" if sessions else "none",
            "datasets": list(plan.datasets),
            "pull_date": plan.pull_date,
            "pulls": [f"{p.dataset} {p.window.name}" for p in plan.pulls],
        }
    except settings.ConfigError as exc:
        shown["(run)"] = f"not resolvable: {exc}"
    if args.json:
        print(json.dumps(shown, indent=2, default=str))
    else:
        import yaml

        print(yaml.safe_dump(shown, sort_keys=False, default_flow_style=None, width=110).rstrip())
    return 0


def _find_gaps(args: argparse.Namespace, config: dict):
    """The lake and its gaps, for ``quantmini gaps`` and ``quantmini backfill`` alike."""
    from . import gaps

    lake = _mirrored(Lake(resolve_lake_root(config.get("lake_root"))))
    start, end = _date(args.start, "--start"), _date(args.end, "--end")
    from .settings import with_defaults

    config = with_defaults(dict(config))
    found = gaps.find(lake, args.datasets or config["datasets"], start, end,
                      gold_features=bool(config["gold_features"]), first_dates=config["dataset_start"])
    return lake, found


def _cmd_gaps(args: argparse.Namespace) -> int:
    from . import gaps

    config = _config(args)
    lake, found = _find_gaps(args, config)
    if args.json:
        print(json.dumps([g.__dict__ for g in found], indent=2))
    else:
        print(f"Gaps under {lake.root} (per layer; pending = not yet published)\n")
        print(gaps.format_gaps(found))
    # 0: none; 1: some session is missing or failed; pending alone is not a gap to fill.
    return 1 if any(g.status != "pending" for g in found) else 0


def _cmd_backfill(args: argparse.Namespace) -> int:
    """Fill exactly the sessions ``quantmini gaps`` lists, with one snakemake run per
    contiguous stretch of them: the workflow builds the missing files of each layer and
    nothing that is held (its targets exist and are up to date)."""
    import shlex
    import subprocess

    from . import effective, gaps
    from .sessions import sessions_between

    config = _config(args)
    lake, found = _find_gaps(args, config)
    todo = gaps.sessions_to_fill(found, include_pending=args.include_pending)
    if not todo:
        print("quantmini backfill: no gaps to fill" + (" (pending files wait for publication; --include-pending asks again)"
                                                       if found else ""))
        return 0
    days = sorted({d for ds in todo.values() for d in ds})
    every = [d.isoformat() for d in sessions_between(dt.date.fromisoformat(days[0]), dt.date.fromisoformat(days[-1]))]
    # Stretches of consecutive sessions, so a gap in January and one in June are two short
    # runs, not one over everything held between them.
    position = {d: i for i, d in enumerate(every)}
    stretches, run = [], [days[0]]
    for d in days[1:]:
        if position[d] == position[run[-1]] + 1:
            run.append(d)
        else:
            stretches.append(run)
            run = [d]
    stretches.append(run)
    from .command import snakemake_command

    status = 0
    for stretch in stretches:
        datasets = sorted(ds for ds, ds_days in todo.items() if set(ds_days) & set(stretch))
        config = [*(args.config or []), f"start={stretch[0]}", f"end={stretch[-1]}",
                  f"datasets=[{','.join(datasets)}]", "rest_datasets=[]", "rest_force=[]"]
        if args.lake:
            config.append(f"lake_root={args.lake}")
        cmd = snakemake_command(snakefile=effective.workflow_dir() / "Snakefile",
                                profile=effective._profile_dir(args.profile) if args.profile else None,
                                extra=[*args.snakemake_args, *(["-n"] if args.dry_run else [])], config=config)
        print(f"quantmini backfill: {', '.join(datasets)} {stretch[0]} .. {stretch[-1]} ({len(stretch)} session{'s' * (len(stretch) != 1)})",
              flush=True)
        print("  " + shlex.join(cmd[0:1] + cmd[3:]), flush=True)
        rc = subprocess.run(cmd).returncode
        status = status or rc
    return status


def _cmd_quality(args: argparse.Namespace) -> int:
    from . import quality, settings

    config = _config(args)
    try:
        plan = _window(args, config)
    except settings.ConfigError as exc:
        print(f"quantmini quality: {exc}", file=sys.stderr)
        return 2
    datasets = list(args.datasets or plan.datasets)
    checks = quality.evaluate_config(_mirrored(plan.lake), config, list(plan.sessions), datasets)
    quality.write_reports(plan.lake, checks, list(plan.sessions), datasets)
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2, default=str))
    else:
        window = f"{plan.sessions[0]} .. {plan.sessions[-1]}" if plan.sessions else "no sessions"
        print(f"Data quality under {plan.lake.root}, sessions {window}\n")
        print(quality.format_checks(checks))
    bad = quality.alerts(checks)
    if bad:
        more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
        print(f"quantmini quality: ALERT {bad[0].line}{more}", file=sys.stderr)
        return 1
    return 0


class Progress:
    """A periodic line on stderr (every ``every`` s): items done of total, elapsed, ETA.
    Quiet when stderr is not a terminal (cron, pipes)."""

    def __init__(self, total: int, label: str, every: float = 5.0, stream=None):
        import threading
        import time

        self.total, self.label, self.done = total, label, 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = None
        if self.stream.isatty():
            self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
            self._thread.start()

    def line(self) -> str:
        import time

        elapsed = time.monotonic() - self.started
        eta = f", ETA {elapsed / self.done * (self.total - self.done):.0f} s" if self.done else ""
        return f"{self.label}: {self.done}/{self.total} done, {elapsed:.0f} s elapsed{eta}"

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            print(self.line(), file=self.stream, flush=True)

    def step(self) -> None:
        self.done += 1

    def close(self) -> None:
        self._stop.set()


def _polygon_pulls(args: argparse.Namespace, pull_date: dt.date) -> list[tuple[str, object]]:
    """The (dataset, window) pulls a ``quantmini polygon`` command stands for: the same
    windows the scheduled workflow names, so the partition is the one it would write."""
    from .rest.windows import Window

    if args.what == "fundamentals":
        start = _date(args.filing_date_gte, "--filing-date-gte")
        end = _date(args.filing_date_lte, "--filing-date-lte") if args.filing_date_lte else pull_date
        return [("fundamentals", Window(args.timeframe, start, end))]
    if args.what == "corporate-actions":
        window = Window(None, _date(args.start_date, "--start-date"), _date(args.end_date, "--end-date"))
        names = ["dividends", "splits"] + (["ipos"] if args.include_ipos else [])
        return [(n, window) for n in names]
    if args.what == "ticker-events":
        return [("ticker_events", Window("all"))]
    if args.what == "short-data":
        return [("short_interest", Window(None, _date(args.settlement_date_gte, "--settlement-date-gte"), pull_date)),
                ("short_volume", Window(None, _date(args.date_gte, "--date-gte"), pull_date))]
    raise ValueError(f"unknown command {args.what!r}")


def _checked(pulls: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """Refuse a reversed window before any request or record is made."""
    for _, window in pulls:
        if window.start is not None and window.end < window.start:
            raise ValueError(f"the window starts {window.start} after it ends {window.end} "
                             "(check the date options and --pull-date)")
    return pulls


def _cmd_polygon(args: argparse.Namespace) -> int:
    """The operations guide's manual pulls, landing in the lake's bronze layout through the
    job code the workflow runs (quantmini.jobs.bronze_rest), sidecar included."""
    from . import jobs
    from .settings import today_new_york

    config = _config(args)
    lake = Lake(resolve_lake_root(config.get("lake_root")))
    if args.tickers:
        config["fundamental_tickers"] = list(args.tickers)
    pull_date = _date(args.pull_date, "--pull-date") or today_new_york()
    if args.what == "financial-ratios":
        return _polygon_ratios(lake)
    pulls = _checked(_polygon_pulls(args, pull_date))
    progress = Progress(len(pulls), f"quantmini polygon {args.what}")
    status = 0
    try:
        for dataset, window in pulls:
            out = lake.bronze_rest(dataset, pull_date.isoformat(), window.name)
            log = f"logs/polygon/{dataset}/{pull_date.isoformat()}_{window.name}.log"
            try:
                jobs.bronze_rest(config, lake.root, dataset, pull_date.isoformat(), window.name, out, log)
                sidecar = json.loads(Path(lake.sidecar("bronze", dataset, pull_date.isoformat(), window.name)).read_text())
                print(f"{dataset} {window.name}: {sidecar['statistics']['records']:,} records, "
                      f"{sidecar['statistics'].get('api_calls', 0)} API calls -> {out}")
            except SystemExit:
                print(f"quantmini polygon: {dataset} {window.name} failed; see {log}", file=sys.stderr)
                status = 1
            progress.step()
    finally:
        progress.close()
    return status


def _polygon_ratios(lake: Lake) -> int:
    """``financial-ratios``: silver fundamentals and ratios rebuilt from every fundamentals
    pull the lake holds (what the workflow's silver rules do)."""
    import glob

    from . import jobs
    from .silver import fundamentals

    pulls = sorted(glob.glob(lake.bronze_rest_glob("fundamentals")))
    if not pulls:
        print("quantmini polygon financial-ratios: no fundamentals pull in the lake; run "
              "`quantmini polygon fundamentals ...` first", file=sys.stderr)
        return 1
    flat = {t: lake.silver("fundamentals", f"timeframe={t}") for t in fundamentals.TIMEFRAMES}
    ratios = {t: lake.silver("financial_ratios", f"timeframe={t}") for t in fundamentals.TIMEFRAMES}
    pit = {t: lake.silver("fundamentals_pit", f"timeframe={t}") for t in fundamentals.TIMEFRAMES}
    try:
        jobs.silver_fundamentals(lake.root, pulls, flat, "logs/polygon/silver_fundamentals.log", pit_outputs=pit)
        jobs.silver_financial_ratios(lake.root, flat, ratios, "logs/polygon/silver_financial_ratios.log")
    except SystemExit:
        print("quantmini polygon financial-ratios: failed; see logs/polygon/", file=sys.stderr)
        return 1
    for t, path in ratios.items():
        print(f"financial_ratios {t} -> {path}")
    return 0


def _print_valuation(lake: Lake, args: argparse.Namespace, table, day: dt.date) -> None:
    """Market cap, P/E, P/B, P/S and dividend yield on ``day`` from its raw bronze close."""
    import polars as pl

    from .silver import point_in_time
    from .silver import read_clean

    bars = Path(lake.bronze("stocks_daily", day.isoformat()))
    if not bars.exists():
        print(f"quantmini as-of: no bronze stocks_daily for {day} (a trading session the lake holds is needed for prices)",
              file=sys.stderr)
        return
    frame = pl.read_parquet(bars, columns=["ticker", "date", "close"]).filter(pl.col("ticker").is_in(args.tickers))

    def actions(event: str, columns: list[str]):
        path = Path(lake.silver("corporate_actions", f"event_type={event}"))
        return pl.from_arrow(read_clean(path, columns)) if path.exists() else None

    out = point_in_time.valuation(frame, table, actions("split", ["ticker", "event_date", "split_ratio"]),
                                  actions("dividend", ["ticker", "event_date", "div_cash_amount", "div_type"]))
    with pl.Config(tbl_rows=200, tbl_cols=20, tbl_width_chars=200):
        print(f"\nValuation on {day} (raw close; fundamentals as known that day)\n")
        print(out.select("ticker", "close", "period_end", "market_cap", "pe", "pb", "ps", "dividend_yield").sort("ticker"))


def _cmd_as_of(args: argparse.Namespace) -> int:
    """What the filings known on a date said (silver/fundamentals_pit), no look-ahead."""
    import polars as pl

    from .silver import point_in_time

    config = _config(args)
    lake = Lake(resolve_lake_root(config.get("lake_root")))
    day = _date(args.date, "date")
    path = Path(lake.silver("fundamentals_pit", f"timeframe={args.timeframe}"))
    if not path.exists():
        print(f"quantmini as-of: {path} does not exist: run the workflow with a fundamentals pull first", file=sys.stderr)
        return 1
    from . import silver

    table = pl.from_arrow(silver.read(path))
    got = point_in_time.as_of(table, args.tickers, day, all_periods=args.all_periods)
    columns = ["ticker", "fiscal_year", "fiscal_period", "period_end", "filing_date", "known_date", "known_rule",
               *(args.columns or ["revenue", "consolidated_net_income_loss", "diluted_earnings_per_share", "gross_margin",
                                  "net_margin"])]
    got = got.select([c for c in columns if c in got.columns])
    if args.json:
        print(json.dumps(got.to_dicts(), indent=2, default=str))
    else:
        with pl.Config(tbl_rows=200, tbl_cols=30, tbl_width_chars=200):
            print(f"Fundamentals ({args.timeframe}) as known on {day}: filings with a known date on or before it\n")
            print(got)
    if args.valuation:
        _print_valuation(lake, args, table, day)
    missing = sorted(set(args.tickers) - set(got["ticker"].to_list()))
    if missing:
        print(f"quantmini as-of: nothing known on {day} for {', '.join(missing)}", file=sys.stderr)
    return 0


def _cmd_compact(args: argparse.Namespace) -> int:
    """Move the REST pulls later pulls supersede out of silver's input (silver.compaction)."""
    import glob

    from .silver import compaction

    config = _config(args)
    lake = Lake(resolve_lake_root(config.get("lake_root")))
    plans = [compaction.plan(ds, sorted(glob.glob(lake.bronze_rest_glob(ds)))) for ds in compaction.DATASETS]
    for p in plans:
        print(f"{p.dataset:<14} {len(p.keep) + len(p.superseded):>6} pulls, {len(p.superseded):>6} superseded")
    if args.dry_run:
        print("dry run: nothing moved")
        return 0
    moved = compaction.apply(lake, plans)
    print(f"moved {moved} pulls to {lake.root}/bronze/{compaction.SUPERSEDED_DIR}/ "
          "(the next run rebuilds silver from the rest, unchanged)")
    return 0


def _cmd_migrate_layout(args: argparse.Namespace) -> int:
    from .paths import migrate_hive_dates

    config = _config(args)
    root = resolve_lake_root(config.get("lake_root"))
    renamed = migrate_hive_dates(root)
    print(f"renamed {renamed} directories under {root} to unpadded month and day keys" if renamed
          else f"{root} already uses unpadded month and day keys")
    return 0


def _add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", help="a profile folder, as for snakemake (e.g. profiles/workstation)")
    p.add_argument("--config", nargs="*", metavar="KEY=VALUE", help="config overrides, as for snakemake")
    p.add_argument("--lake", help="lake root (default: the config's lake_root, $QUANTLAKE_ROOT first)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="quantmini", description="quantmini: Polygon/Massive market data lake tools")
    sub = p.add_subparsers(dest="command", required=True)

    sb = sub.add_parser("sandbox", help="the local Polygon-compatible sandbox (S3 + REST on loopback)")
    sb.add_argument("action", choices=["start", "stop", "status"])
    sb.add_argument("--start", help="first date of published files (default 2024-06-03)")
    sb.add_argument("--end", help="last date of published files (default 2024-06-28)")
    sb.add_argument("--tickers", type=int, help="symbols active on a typical day (default 12000)")
    sb.add_argument("--seed", type=int)
    sb.add_argument("--datasets", help="comma-separated datasets to publish (default: all four)")
    sb.add_argument("--intraday-days", dest="intraday_days", type=int, help="sessions with minute/options files (default 2)")
    sb.add_argument("--option-underlyings", dest="option_underlyings", type=int, help="optionable names (default tickers/5)")
    sb.add_argument("--s3-port", dest="s3_port", type=int)
    sb.add_argument("--rest-port", dest="rest_port", type=int)
    sb.add_argument("--no-fixtures", action="store_true", help="do not serve the real recorded fixtures")
    sb.set_defaults(func=_cmd_sandbox)

    md = sub.add_parser("metadata", help="summary of the metadata sidecars: jobs, records, watermarks, gaps")
    md.add_argument("--lake", help="lake root (default: $QUANTLAKE_ROOT or ./quantlake)")
    md.add_argument("--json", action="store_true")
    md.set_defaults(func=_cmd_metadata)

    cf = sub.add_parser("config", help="the effective config (config/config.yaml, the profile, --config), secrets masked")
    cf.add_argument("action", choices=["show"])
    _add_config_options(cf)
    cf.add_argument("--json", action="store_true")
    cf.set_defaults(func=_cmd_config_show)

    gp = sub.add_parser("gaps", help="sessions missing, failed or pending, per dataset and layer, in ranges")
    _add_config_options(gp)
    gp.add_argument("--datasets", nargs="*", help="default: the config's datasets")
    gp.add_argument("--start", help="first session to expect (default: the config's dataset_start, else the first held)")
    gp.add_argument("--end", help="last session to expect (default: the last held)")
    gp.add_argument("--json", action="store_true")
    gp.set_defaults(func=_cmd_gaps)

    bf = sub.add_parser("backfill", help="fill the gaps `quantmini gaps` lists (runs snakemake)")
    _add_config_options(bf)
    bf.add_argument("--datasets", nargs="*")
    bf.add_argument("--start")
    bf.add_argument("--end")
    bf.add_argument("--include-pending", action="store_true", help="also ask again for files not yet published")
    bf.add_argument("-n", "--dry-run", action="store_true", help="show what snakemake would run")
    bf.add_argument("snakemake_args", nargs="*", help="after --: passed to snakemake (e.g. -- --cores 4)")
    bf.set_defaults(func=_cmd_backfill)

    qa = sub.add_parser("quality", help="data-quality checks of a run's sessions; exit 1 on an alert")
    _add_config_options(qa)
    qa.add_argument("--date")
    qa.add_argument("--days-back", dest="days_back", type=int)
    qa.add_argument("--start")
    qa.add_argument("--end")
    qa.add_argument("--datasets", nargs="*")
    qa.add_argument("--json", action="store_true")
    qa.set_defaults(func=_cmd_quality)

    pg = sub.add_parser("polygon", help="manual REST pulls into the lake's bronze layout (the guide's section 3)")
    pgs = pg.add_subparsers(dest="what", required=True)
    for name, helptext in (("fundamentals", "balance sheets, income and cash-flow statements by filing date"),
                           ("corporate-actions", "dividends and splits (and IPOs) in a date window"),
                           ("ticker-events", "ticker changes of the given tickers"),
                           ("short-data", "short interest and short volume (filtered to the given tickers)"),
                           ("financial-ratios", "rebuild silver fundamentals and financial ratios from the pulls held")):
        c = pgs.add_parser(name, help=helptext)
        _add_config_options(c)
        c.add_argument("tickers", nargs="*", help="tickers (default: the config's fundamental_tickers)")
        c.add_argument("--pull-date", dest="pull_date", help="the pull's date in the lake (default: today, New York)")
        c.set_defaults(func=_cmd_polygon)
        if name == "fundamentals":
            c.add_argument("--timeframe", choices=["quarterly", "annual"], default="quarterly")
            c.add_argument("--filing-date-gte", dest="filing_date_gte", required=True)
            c.add_argument("--filing-date-lte", dest="filing_date_lte")
        elif name == "corporate-actions":
            c.add_argument("--start-date", dest="start_date", required=True)
            c.add_argument("--end-date", dest="end_date", required=True)
            c.add_argument("--include-ipos", dest="include_ipos", action="store_true")
        elif name == "short-data":
            c.add_argument("--settlement-date-gte", dest="settlement_date_gte", required=True)
            c.add_argument("--date-gte", dest="date_gte", required=True)

    ao = sub.add_parser("as-of", help="point-in-time fundamentals: what the filings known on DATE said (no look-ahead)")
    _add_config_options(ao)
    ao.add_argument("date")
    ao.add_argument("tickers", nargs="+")
    ao.add_argument("--timeframe", choices=["quarterly", "annual"], default="quarterly")
    ao.add_argument("--all-periods", dest="all_periods", action="store_true", help="every period known, not only the latest")
    ao.add_argument("--columns", nargs="*", help="concept or ratio columns to show")
    ao.add_argument("--valuation", action="store_true", help="also market cap, P/E, P/B, P/S, dividend yield that day")
    ao.add_argument("--json", action="store_true")
    ao.set_defaults(func=_cmd_as_of)

    cp = sub.add_parser("compact", help="move REST pulls that later pulls supersede out of silver's input")
    _add_config_options(cp)
    cp.add_argument("-n", "--dry-run", dest="dry_run", action="store_true")
    cp.set_defaults(func=_cmd_compact)

    mg = sub.add_parser("migrate-layout", help="rename the zero-padded month and day directories of a lake made before the unpadded layout")
    _add_config_options(mg)
    mg.set_defaults(func=_cmd_migrate_layout)

    ss = sub.add_parser("sessions", help="list XNYS trading sessions between two dates")
    ss.add_argument("start")
    ss.add_argument("end")
    ss.set_defaults(func=_cmd_sessions)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .effective import ProfileError

    try:
        return args.func(args)
    except BrokenPipeError:
        # `quantmini metadata --json | head`: the reader left; not an error worth a traceback.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ProfileError, OSError, ValueError) as exc:
        # A missing profile, an unreadable file, a bad date: one line, no traceback (and no
        # URL or header that could carry a credential: messages pass through redact).
        from .secrets import redact

        print(f"quantmini {args.command}: {redact(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
