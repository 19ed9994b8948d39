"""The ``quantmini`` command: the sandbox, the metadata summary, and calendar helpers.

The workflow itself runs with ``snakemake``; this command covers what is not a file target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from . import metadata
from .paths import Lake, resolve_lake_root


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import control

    if args.action == "start":
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


def _cmd_metadata(args: argparse.Namespace) -> int:
    lake = Lake(resolve_lake_root(args.lake))
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


def _cmd_sessions(args: argparse.Namespace) -> int:
    from .sessions import calendar_bounds, sessions_between

    days = []
    for name, value in (("start", args.start), ("end", args.end)):
        try:
            days.append(dt.date.fromisoformat(value))
        except ValueError:
            print(f"quantmini sessions: {name} {value!r} is not a valid date (YYYY-MM-DD)", file=sys.stderr)
            return 2
    start, end = days
    first, last = calendar_bounds()
    if start < first or end > last:
        print(f"quantmini sessions: the XNYS calendar covers {first} .. {last}", file=sys.stderr)
        return 2
    for d in sessions_between(start, end):
        print(d.isoformat())
    return 0


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

    ss = sub.add_parser("sessions", help="list XNYS trading sessions between two dates")
    ss.add_argument("start")
    ss.add_argument("end")
    ss.set_defaults(func=_cmd_sessions)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # `quantmini metadata --json | head`: the reader left; not an error worth a traceback.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
