"""The run plan (quantmini/plan.py) against constructed lake and vendor listings: what a run
builds and what each rule reads, in milliseconds, with no Snakemake process and no socket.

Whole-workflow tests keep what only a whole run shows (Snakemake's own rerun decisions, real
sockets); the planning rules are checked here, one constructed listing each.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantmini import settings
from quantmini.corrections import RemoteObject
from quantmini.datasets import FLATFILE_DATASETS
from quantmini.plan import LakeListing, Planner

NY = dt.timezone(dt.timedelta(hours=-4))
JUNE = ["2024-06-24", "2024-06-25", "2024-06-26", "2024-06-27", "2024-06-28"]


def planner(root: Path, listing: LakeListing, remote=None, now=None, say=None, bounded=True, **config) -> Planner:
    cfg = settings.with_defaults({"lake_root": str(root), "rest_datasets": [], "datasets": ["stocks_daily"], **config})
    cfg.setdefault("date", "2024-06-28")
    run = settings.resolve(cfg)
    lines = say if say is not None else []
    return Planner(run, cfg, listing, remote or (lambda prefixes: {}), now=now, say=lines.append, bounded=bounded)


def lake_after(p: Planner) -> LakeListing:
    """The lake a successful run of plan ``p`` leaves: its targets and its landing files."""
    stored = [t for t in p.run_targets() if "/gold/" not in t]
    stored += [p.lake.landing(ds, d) for ds in p.run.datasets for d in p.run.sessions]
    gold = [t for t in p.run_targets() if "/gold/" in t and t.endswith("part.parquet")]
    return LakeListing.of(stored, local=gold)


def held_lake(root: Path, datasets=("stocks_daily",), days=JUNE, gold=True) -> LakeListing:
    from quantmini.paths import Lake

    lake = Lake(str(root))
    stored = [lake.bronze(ds, d) for ds in datasets for d in days] + [lake.landing(ds, d) for ds in datasets for d in days]
    local = [lake.gold("stocks_daily", d) for d in days] if gold else []
    return LakeListing.of(stored, local=local)


def all_inputs(p: Planner) -> dict:
    """Every planning answer a run's rules read, for comparing two plans."""
    out = {"targets": sorted(p.run_targets()), "summary": p.summary_inputs()[0], "qlib": p.qlib_inputs(),
           "silver": p.corporate_action_pulls()}
    for d in p.run.sessions:
        out[f"gold {d}"] = p.gold_stocks_daily_inputs(d)
    return out


# ----------------------------------------------------------------------------------- windows
def test_window_targets_are_the_window_sessions_only(tmp_path):
    p = planner(tmp_path, LakeListing.of([]), date="2024-06-28", days_back=3)
    assert p.run.sessions == ("2024-06-26", "2024-06-27", "2024-06-28")
    assert p.window_targets() == [p.lake.bronze("stocks_daily", d) for d in p.run.sessions]
    assert p.gold_feature_targets() == [p.lake.gold("stocks_daily", d) for d in p.run.sessions]
    assert p.gold_targets()[0] == p.lake.qlib_receipt("stocks_daily")


def test_explicit_window_skips_holidays_and_weekends(tmp_path):
    p = planner(tmp_path, LakeListing.of([]), date="", start="2024-06-18", end="2024-06-24")
    # 2024-06-19 is Juneteenth, 06-22/23 a weekend
    assert p.run.sessions == ("2024-06-18", "2024-06-20", "2024-06-21", "2024-06-24")
    assert len(p.window_targets()) == 4


def test_a_holiday_date_is_refused_with_its_key(tmp_path):
    with pytest.raises(settings.ConfigError, match="'date': 2024-06-19 is not an XNYS trading session"):
        planner(tmp_path, LakeListing.of([]), date="2024-06-19")


# ----------------------------------------------------------------------------------- reruns
def test_a_rerun_after_a_run_plans_the_same_inputs(tmp_path):
    """The set a run records is the set the next run finds: every rule's inputs and every
    target are the same when the lake holds what the first run built (so a rerun plans
    nothing), REST pulls and silver included."""
    cfg = dict(date="2024-06-28", days_back=5, rest_datasets=["dividends", "splits"], datasets=["stocks_daily", "stocks_minute"])
    first = planner(tmp_path, LakeListing.of([]), **cfg)
    second = planner(tmp_path, lake_after(first), **cfg)
    assert all_inputs(first) == all_inputs(second)
    assert first.silver_targets() and first.silver_targets() == second.silver_targets()


def test_a_new_day_adds_exactly_that_day(tmp_path):
    old = planner(tmp_path, held_lake(tmp_path, days=JUNE[:-1]), date="2024-06-27", days_back=4)
    new = planner(tmp_path, held_lake(tmp_path, days=JUNE[:-1]), date="2024-06-28", days_back=1)
    day = "2024-06-28"
    assert set(new.window_targets()) - set(old.window_targets()) == {new.lake.bronze("stocks_daily", day)}
    assert set(new.gold_feature_targets()) - set(old.gold_feature_targets()) == {new.lake.gold("stocks_daily", day)}
    added = set(new.qlib_inputs()["bronze"]) - set(old.qlib_inputs()["bronze"])
    assert added == {new.lake.bronze("stocks_daily", day)}
    # the new session's gold window reads the held days before it
    assert new.gold_window(day)[-5:] == JUNE


def test_held_history_is_kept_and_a_deleted_bronze_under_gold_is_rebuilt(tmp_path):
    from quantmini.paths import Lake

    lake = Lake(str(tmp_path))
    listing = LakeListing.of([lake.bronze("stocks_daily", d) for d in JUNE[:3]],
                             local=[lake.gold("stocks_daily", d) for d in JUNE[:4]])
    p = planner(tmp_path, listing, date="2024-06-28", days_back=1)
    held = p.bronze_by_date("stocks_daily")
    assert sorted(held) == JUNE  # three held, one under a held gold session, one in the window
    assert held["2024-06-27"] == lake.bronze("stocks_daily", "2024-06-27")


# ----------------------------------------------------------------------------------- gold windows
def test_gold_window_is_the_held_lookback(tmp_path):
    p = planner(tmp_path, held_lake(tmp_path, days=JUNE[1:]), date="2024-06-28", gold_lookback_sessions=3)
    assert p.gold_window("2024-06-28") == ["2024-06-26", "2024-06-27", "2024-06-28"]
    assert p.gold_window("2024-06-25") == ["2024-06-25"]  # 06-21 and 06-24 are not held
    inputs = p.gold_stocks_daily_inputs("2024-06-28")
    assert inputs["bronze"] == [p.lake.bronze("stocks_daily", d) for d in ("2024-06-26", "2024-06-27", "2024-06-28")]
    assert inputs["minute"] == [] and inputs["splits"] == [] and inputs["dividends"] == []


def test_gold_features_off_plans_no_gold_sessions(tmp_path):
    p = planner(tmp_path, held_lake(tmp_path), gold_features=False, gold_qlib=False)
    assert p.gold_targets() == []


# ----------------------------------------------------------------------------------- late splits
def _write_splits(path: str, rows: list[tuple[str, str, float]]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "ticker": [r[0] for r in rows],
        "event_date": pa.array([dt.date.fromisoformat(r[1]) for r in rows], pa.date32()),
        "event_id": [f"e{i}" for i in range(len(rows))],
        "split_ratio": [r[2] for r in rows],
    }), path)


def test_a_late_split_changes_exactly_the_sessions_whose_window_holds_it(tmp_path):
    days = [d.isoformat() for d in __import__("quantmini.sessions", fromlist=["x"]).sessions_between(
        dt.date(2024, 5, 1), dt.date(2024, 6, 28))]
    listing = held_lake(tmp_path, days=days)
    before = planner(tmp_path, listing, date="2024-06-28", gold_lookback_sessions=5,
                     rest_datasets=["splits"])
    split_file = before.silver_corporate_actions_outputs()["split"]
    _write_splits(split_file, [("AAA", "2024-05-02", 2.0)])
    prints_before = {d: before.gold_stocks_daily_actions(d) for d in days}
    qlib_before = before.qlib_actions()

    after = planner(tmp_path, listing, date="2024-06-28", gold_lookback_sessions=5, rest_datasets=["splits"])
    _write_splits(split_file, [("AAA", "2024-05-02", 2.0), ("NVDA", "2024-06-10", 10.0)])
    prints_after = {d: after.gold_stocks_daily_actions(d) for d in days}
    changed = sorted(d for d in days if prints_before[d] != prints_after[d])
    # 5-session windows holding the ex-date after their first bar (the return into it): the
    # session of the ex-date and the three after it; 06-14's window starts at 06-10
    assert changed == ["2024-06-10", "2024-06-11", "2024-06-12", "2024-06-13"]
    assert after.qlib_actions() != qlib_before
    # an unchanged rewrite changes nothing
    again = planner(tmp_path, listing, date="2024-06-28", gold_lookback_sessions=5, rest_datasets=["splits"])
    _write_splits(split_file, [("AAA", "2024-05-02", 2.0), ("NVDA", "2024-06-10", 10.0)])
    assert {d: again.gold_stocks_daily_actions(d) for d in days} == prints_after
    assert again.qlib_actions() == after.qlib_actions()


# ----------------------------------------------------------------------------------- corrections
def _landing_sidecar(p: Planner, day: str, etag: str, size: int, status="success", bronze_status=None):
    path = Path(p.lake.sidecar("landing", "stocks_daily", day))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"status": status, "timestamp": "2024-06-29T16:00:00",
                                "statistics": {"etag": etag, "bytes": size}}))
    if bronze_status:
        b = Path(p.lake.sidecar("bronze", "stocks_daily", day))
        b.parent.mkdir(parents=True, exist_ok=True)
        b.write_text(json.dumps({"status": bronze_status, "timestamp": "2024-06-29T16:01:00", "error": "bad row 7"}))


def _remote(days_etags: dict[str, str], size=100):
    objects = {FLATFILE_DATASETS["stocks_daily"].s3_key(d): RemoteObject(FLATFILE_DATASETS["stocks_daily"].s3_key(d), e, size,
                                                                          "2024-06-29T15:00:00+00:00")
               for d, e in days_etags.items()}
    asked = []

    def lister(prefixes):
        asked.append(list(prefixes))
        return objects

    return lister, asked


def _marker_args(p: Planner, day: str):
    asset, feed = FLATFILE_DATASETS["stocks_daily"].s3_prefix.split("/")
    return asset, feed, day[:4], day[5:7], day


def test_a_corrected_file_three_sessions_back_gets_a_marker_its_day_only(tmp_path):
    remote, asked = _remote({d: "same" for d in JUNE} | {"2024-06-25": "changed"})
    p = planner(tmp_path, held_lake(tmp_path), remote=remote, date="2024-06-28", days_back=1)
    for d in JUNE:
        _landing_sidecar(p, d, "same", 100)
    markers = {d: p.correction_markers(*_marker_args(p, d)) for d in JUNE}
    assert [d for d, m in markers.items() if m] == ["2024-06-25"]
    (marker,) = markers["2024-06-25"]
    assert Path(marker).name.startswith("2024-06-25.etag-changed-")
    assert Path(marker).parent.as_posix() == p.lake.correction_marker_dir(*_marker_args(p, "2024-06-25")[:4])
    assert asked == [["us_stocks_sip/day_aggs_v1/2024/06/"]]  # one listing per dataset and month
    # the held refresh sessions are targets, so the corrected day is re-checked
    assert p.lake.bronze("stocks_daily", "2024-06-25") in p.window_targets()


def test_a_held_marker_stays_an_input_and_a_failed_conversion_refetches(tmp_path):
    from quantmini.paths import Lake

    lake = Lake(str(tmp_path))
    asset, feed, y, m, _ = ("us_stocks_sip", "day_aggs_v1", "2024", "06", None)
    old_marker = f"{lake.correction_marker_dir(asset, feed, y, m)}/2024-06-20.etag-old-1234"
    listing = LakeListing.of([*held_lake(tmp_path).glob(f"{tmp_path}/*/*/*/*/*/*/*") , old_marker,
                              lake.landing("stocks_daily", "2024-06-27"), lake.bronze("stocks_daily", "2024-06-27")])
    remote, _ = _remote({"2024-06-27": "same"})
    p = planner(tmp_path, listing, remote=remote, date="2024-06-28", days_back=1)
    _landing_sidecar(p, "2024-06-27", "same", 100, bronze_status="failed")
    assert p.correction_markers(asset, feed, y, m, "2024-06-20") == [old_marker]  # outside refresh_days: held only
    (refetch,) = p.correction_markers(asset, feed, y, m, "2024-06-27")
    assert Path(refetch).name.startswith("2024-06-27.refetch-")


def test_an_unreachable_vendor_checks_nothing_and_says_so_without_secrets(tmp_path):
    def down(prefixes):
        raise ConnectionError("https://files.example/?X-Amz-Credential=AKIASECRET12345 unreachable")

    lines = []
    p = planner(tmp_path, held_lake(tmp_path), remote=down, say=lines, date="2024-06-28", days_back=1)
    _landing_sidecar(p, "2024-06-26", "same", 100)
    assert p.correction_markers(*_marker_args(p, "2024-06-26")) == []
    assert p.unpublished() == frozenset()
    assert len(lines) == 1 and lines[0].startswith("quantmini: corrections not checked:")


# ----------------------------------------------------------------------------------- pending files
def test_an_unpublished_file_is_pending_until_it_is_late(tmp_path):
    remote, _ = _remote({})  # nothing published for June
    lines = []
    early = dt.datetime(2024, 6, 29, 12, 0, tzinfo=NY)  # due 06-28 11:00 + 1 day: 1 h late
    p = planner(tmp_path, LakeListing.of([]), remote=remote, now=early, say=lines, date="2024-06-28", days_back=1)
    assert p.unpublished() == frozenset({("stocks_daily", "2024-06-28")})
    assert p.window_targets() == [] and p.bronze_partitions("stocks_daily") == []
    assert lines == ["quantmini: stocks_daily 2024-06-28: not published yet (due 2024-06-29 11:00 New York); "
                     "pending, the next run fetches it"]
    late = dt.datetime(2024, 7, 2, 12, 0, tzinfo=NY)  # > 48 h after due: in the run, its job fails loudly
    q = planner(tmp_path, LakeListing.of([]), remote=remote, now=late, date="2024-06-28", days_back=1)
    assert q.unpublished() == frozenset()
    assert q.window_targets() == [q.lake.bronze("stocks_daily", "2024-06-28")]


def test_a_published_file_is_planned(tmp_path):
    remote, _ = _remote({"2024-06-28": "x"})
    p = planner(tmp_path, LakeListing.of([]), remote=remote, now=dt.datetime(2024, 6, 29, 12, tzinfo=NY))
    assert p.unpublished() == frozenset()
    assert p.window_targets() == [p.lake.bronze("stocks_daily", "2024-06-28")]


# ----------------------------------------------------------------------------------- REST and silver
def test_silver_is_planned_only_from_pulls_held_or_made(tmp_path):
    none = planner(tmp_path, LakeListing.of([]))
    assert none.silver_targets() == [] and none.silver_action_file("split") == ()
    pulls = planner(tmp_path, LakeListing.of([]), rest_datasets=["dividends"], date="2024-06-28")
    assert pulls.rest_targets() == [pulls.lake.bronze_rest("dividends", "2024-06-28", pulls.run.pulls[0].window.name)]
    assert sorted(pulls.silver_targets()) == sorted(pulls.silver_corporate_actions_outputs().values())
    held_fund = pulls.lake.bronze_rest("fundamentals", "2024-06-23", "quarterly")
    fund = planner(tmp_path, LakeListing.of([held_fund]))
    assert fund.bronze_pulls("fundamentals") == [held_fund]
    assert set(fund.silver_targets()) == set(fund.silver_outputs("financial_ratios").values()) | set(
        fund.silver_pit_outputs().values())
    assert planner(tmp_path, LakeListing.of([held_fund]), silver=False).silver_targets() == []


def test_reference_tickers_come_from_the_latest_tickers_pull(tmp_path):
    p = planner(tmp_path, LakeListing.of([]), fundamental_tickers=[])
    # tickers are pulled on Mondays: the pull of Wednesday 2024-06-26 reads Monday's
    assert p.reference_tickers_for_pull("fundamentals", "2024-06-26") == {
        "reference": p.lake.bronze_rest("tickers", "2024-06-24", "active")}
    assert planner(tmp_path, LakeListing.of([]), fundamental_tickers=["AAPL"]).reference_tickers_for_pull(
        "fundamentals", "2024-06-26") == {}


def test_corporate_action_inputs_are_every_pull_and_every_bar(tmp_path):
    p = planner(tmp_path, held_lake(tmp_path), rest_datasets=["splits"])
    inputs = p.corporate_action_pulls()
    assert set(inputs) == {"dividends", "splits", "ipos", "ticker_events", "bars"}
    assert inputs["bars"] == sorted(p.lake.bronze("stocks_daily", d) for d in JUNE)
    assert inputs["splits"] == p.rest_targets("splits")


# ----------------------------------------------------------------------------------- the run
def test_final_outputs_end_with_the_summaries_and_an_empty_run_has_none(tmp_path):
    p = planner(tmp_path, LakeListing.of([]))
    assert p.final_outputs()[-2:] == [p.lake.summary(), p.lake.report_asset("records.png")]
    empty = planner(tmp_path, LakeListing.of([]), datasets=[], rest_datasets=[], date="2024-06-19")
    assert empty.run.empty and empty.final_outputs() == []


def test_summary_inputs_are_the_run_on_disk_and_the_held_lake_in_an_object_store(tmp_path):
    """On disk the summary (which reads every sidecar) names what the run builds: the held
    history is not in the DAG. In an object store it names the held lake too."""
    p = planner(tmp_path, held_lake(tmp_path, datasets=("stocks_daily", "stocks_minute")), date="2024-06-28")
    assert p.summary_inputs() == (sorted(p.run_targets()), set(p.gold_targets()))
    assert not any("bronze/stocks_minute" in x for x in p.summary_inputs()[0])
    p = planner(tmp_path, held_lake(tmp_path, datasets=("stocks_daily", "stocks_minute")), date="2024-06-28",
                bounded=False)
    paths, local = p.summary_inputs()
    assert set(p.run_targets()) <= set(paths)
    assert {p.lake.bronze("stocks_minute", d) for d in JUNE} <= set(paths)  # held, not in the run's datasets
    assert local == {p.lake.gold("stocks_daily", d) for d in JUNE} | {
        p.lake.qlib_receipt(s) for s in ("stocks_daily", "universes", "stocks_minute")}


def test_each_listing_is_asked_once_per_plan(tmp_path):
    calls = []
    base = held_lake(tmp_path)

    def counting(pattern):
        calls.append(pattern)
        return base.glob(pattern)

    p = planner(tmp_path, LakeListing(glob=counting, has=base.has, local_glob=base.local_glob))
    for _ in range(3):
        p.summary_inputs(), p.qlib_inputs(), p.corporate_action_pulls()
        for d in JUNE:
            p.gold_stocks_daily_inputs(d)
    assert len(calls) == len(set(calls))


def test_the_qlib_fingerprint_covers_only_actions_that_can_change_the_store(tmp_path):
    """An action before the store's first session or after its last changes no value: a silver
    rebuild bringing only such actions (the monthly 2-year backfill) does not rerun the store."""
    listing = held_lake(tmp_path)  # bronze 06-24 .. 06-28
    base = planner(tmp_path, listing, rest_datasets=["splits"])
    split_file = base.silver_corporate_actions_outputs()["split"]
    _write_splits(split_file, [("AAA", "2024-06-26", 2.0)])
    before = base.qlib_actions()
    outside = planner(tmp_path, listing, rest_datasets=["splits"])
    _write_splits(split_file, [("OLD", "2022-03-01", 3.0), ("AAA", "2024-06-26", 2.0), ("OLD", "2024-06-24", 2.0),
                               ("NEW", "2024-07-15", 4.0)])
    assert outside.qlib_actions() == before
    inside = planner(tmp_path, listing, rest_datasets=["splits"])
    _write_splits(split_file, [("AAA", "2024-06-26", 2.0), ("BBB", "2024-06-28", 2.0)])
    assert inside.qlib_actions() != before


def test_a_rest_only_run_that_pulls_actions_keeps_gold_consistent(tmp_path):
    """`datasets=[]` with a dividends pull rebuilds silver's actions: the Qlib store and the
    held gold sessions that read them are in the run (their fingerprints decide what reruns),
    so the next plain run plans nothing (the demo's last run used to leave the store stale)."""
    from quantmini.paths import Lake

    lake = Lake(str(tmp_path))
    listing = LakeListing.of([lake.bronze("stocks_daily", d) for d in JUNE],
                             local=[lake.gold("stocks_daily", d) for d in JUNE] + [lake.qlib_receipt("stocks_daily")])
    rest_only = planner(tmp_path, listing, datasets=[], rest_datasets=["dividends"], date="2024-06-28")
    assert rest_only.window_targets() == []
    assert rest_only.gold_targets() == [lake.qlib_receipt("stocks_daily"), lake.qlib_receipt("universes")] + [
        lake.gold("stocks_daily", d) for d in JUNE]
    news_only = planner(tmp_path, listing, datasets=[], rest_datasets=["news"], date="2024-06-28")
    assert news_only.gold_targets() == []
    no_store = LakeListing.of([lake.bronze("stocks_daily", d) for d in JUNE])
    assert planner(tmp_path, no_store, datasets=[], rest_datasets=["dividends"], date="2024-06-28").gold_targets() == []


def test_summary_inputs_do_not_depend_on_what_the_run_pulls(tmp_path):
    """In an object store, the summary is redone when the lake gains a file, not because two
    runs pull different REST datasets (the demo's REST-only run, then a plain run,
    re-planned it). (On disk it names the run's targets, and the set-of-inputs rerun trigger
    is off: profiles/default.)"""
    from quantmini.paths import Lake

    lake = Lake(str(tmp_path))
    held = [lake.bronze("stocks_daily", d) for d in JUNE] + [
        lake.bronze_rest("fundamentals", "2024-06-23", "quarterly"), lake.bronze_rest("news", "2024-06-27", "x")]
    listing = LakeListing.of(held, local=[lake.gold("stocks_daily", d) for d in JUNE])
    news = planner(tmp_path, listing, rest_datasets=["news"], date="2024-06-28", days_back=5, bounded=False)
    news_held = [*held, *news.rest_targets()]
    # the next run: the news pull made, nothing pulled
    none = planner(tmp_path, LakeListing.of(news_held, local=[lake.gold("stocks_daily", d) for d in JUNE]),
                   rest_datasets=[], date="2024-06-28", days_back=5, bounded=False)
    assert news.summary_inputs()[0] == none.summary_inputs()[0]


# ----------------------------------------------------------------------------------- history
def _years_lake(root: Path, count: int, end="2024-06-27") -> tuple[LakeListing, list[str]]:
    from quantmini.paths import Lake
    from quantmini.sessions import sessions_ending

    lake = Lake(str(root))
    days = [d.isoformat() for d in sessions_ending(dt.date.fromisoformat(end), count)]
    stored = [lake.bronze("stocks_daily", d) for d in days] + [lake.landing("stocks_daily", d) for d in days]
    return LakeListing.of(stored, local=[lake.gold("stocks_daily", d) for d in days] + [lake.qlib_receipt("stocks_daily")]), days


def _settle(p: Planner) -> None:
    """What a successful run leaves: the record of the actions gold is complete against."""
    from quantmini import hooks

    hooks.settle_actions(p)


@pytest.mark.parametrize("held", [250, 1250])
def test_a_new_day_on_a_long_history_plans_the_same_as_on_a_short_one(tmp_path, held):
    """Planning follows the run, not the history: on 250 or 1,250 held sessions a new day
    plans its own bronze and gold and the held sessions its refresh days reach; no older gold
    session is a target."""
    listing, days = _years_lake(tmp_path, held)
    p = planner(tmp_path, listing, date="2024-06-28", days_back=1, refresh_days=3, gold_lookback_sessions=5)
    _settle(p)
    p = planner(tmp_path, listing, date="2024-06-28", days_back=1, refresh_days=3, gold_lookback_sessions=5)
    refresh = list(p.refresh_dates())
    assert refresh == [*days[-2:], "2024-06-28"]  # the refresh window ends at the run's day
    gold = [partition_date_of(t) for t in p.gold_feature_targets()]
    assert gold == refresh  # the held refresh sessions reach up to the new day, no further back
    assert sorted(partition_date_of(b) for b in p.window_targets()) == refresh
    # the Qlib store and silver's bar checks name the run's days; they read the held ones
    assert sorted(partition_date_of(b) for b in p.qlib_inputs()["bronze"]) == refresh
    assert p.corporate_action_pulls()["bars"] == p.qlib_inputs()["bronze"]
    assert p.summary_inputs()[0] == sorted(p.run_targets())


def partition_date_of(path: str) -> str:
    from quantmini.paths import partition_date

    return partition_date(path)


def test_a_rerun_of_an_old_day_plans_its_reach_only(tmp_path):
    """A day refetched deep in the history (a backfill of one old session) reaches the gold
    sessions whose look-back holds it, and nothing else of the history."""
    listing, days = _years_lake(tmp_path, 500)
    p = planner(tmp_path, listing, date=days[100], days_back=1, gold_lookback_sessions=5)
    _settle(p)
    p = planner(tmp_path, listing, date=days[100], days_back=1, gold_lookback_sessions=5)
    gold = [partition_date_of(t) for t in p.gold_feature_targets()]
    first = days.index(p.refresh_dates()[0])
    assert p.refresh_dates()[-1] == days[100] and first < 100
    assert gold == days[first:105]  # the refreshed days up to this one, and the 4 sessions after it


def test_a_late_split_pull_plans_the_sessions_after_its_window_start_only(tmp_path):
    """A run that pulls splits rebuilds silver: the held sessions from the pull window's first
    day on are planned (their fingerprints decide what reruns); older ones cannot change."""
    listing, days = _years_lake(tmp_path, 400)
    p = planner(tmp_path, listing, date="2024-06-28", days_back=1, rest_datasets=["splits"])
    _settle(p)
    p = planner(tmp_path, listing, date="2024-06-28", days_back=1, rest_datasets=["splits"])
    start = p.action_span_start()
    pull = [x for x in p.run.pulls if x.dataset == "splits"][0]
    assert start == pull.window.start.isoformat() and start < "2024-06-28"
    gold = [partition_date_of(t) for t in p.gold_feature_targets()]
    assert gold == [d for d in days if d >= start] + ["2024-06-28"]
    assert len(gold) < 40


def test_silver_changed_outside_a_completed_run_plans_every_held_session_once(tmp_path):
    """A crash between silver's rebuild and gold (or a lake from before the record): the
    actions are not settled, so every held gold session is planned and its fingerprint
    decides; the successful run then records them and the next plan is bounded again."""
    listing, days = _years_lake(tmp_path, 60)
    p = planner(tmp_path, listing, date="2024-06-28", days_back=1, refresh_days=1)
    assert not p.actions_settled()  # no record yet
    assert len(p.gold_feature_targets()) == 61
    _settle(p)
    again = planner(tmp_path, listing, date="2024-06-28", days_back=1, refresh_days=1)
    assert again.actions_settled() and len(again.gold_feature_targets()) == 1
    _write_splits(again.silver_corporate_actions_outputs()["split"], [("AAA", "2024-05-02", 2.0)])
    listing_with_silver = LakeListing(glob=listing.glob, has=lambda path: path.endswith("event_type=split/data.parquet")
                                      or listing.has(path), local_glob=listing.local_glob)
    changed = planner(tmp_path, listing_with_silver, date="2024-06-28", days_back=1, refresh_days=1)
    assert not changed.actions_settled() and len(changed.gold_feature_targets()) == 61
    store = planner(tmp_path, listing, date="2024-06-28", days_back=1, refresh_days=1, bounded=False)
    assert len(store.gold_feature_targets()) == 61


# ------------------------------------------------------------------------- backfill batches
def test_a_long_window_of_unheld_sessions_is_batched_by_month(tmp_path):
    """A window with at least backfill_batch_sessions sessions the lake has not got: one
    flat-file batch and one gold batch per month, their outputs the per-session files; the
    window's last refresh_days sessions stay per-session (later corrections rerun a day)."""
    p = planner(tmp_path, LakeListing.of([]), date="", start="2024-04-01", end="2024-06-28", backfill_batch_sessions=40,
                refresh_days=5)
    flat, gold = p.batches("flatfile"), p.batches("gold")
    assert [(b.first, b.last, len(b.sessions)) for b in flat] == [
        ("2024-04-01", "2024-04-30", 22), ("2024-05-01", "2024-05-31", 22), ("2024-06-03", "2024-06-21", 14)]
    assert [b.sessions for b in gold] == [b.sessions for b in flat]
    assert sum(len(b.sessions) for b in flat) == len(p.run.sessions) - 5 == 58
    assert not set(p.refresh_dates()) & {d for b in flat + gold for d in b.sessions}
    out = p.batch_flatfile_outputs(flat[2])
    assert out["bronze"] == [p.lake.bronze("stocks_daily", d) for d in flat[2].sessions]
    assert out["landing"][0] == p.lake.landing("stocks_daily", "2024-06-03")
    assert out["manifest"].endswith(".quantmini/batches/flatfile/stocks_daily/2024-06-03_2024-06-21.json")
    assert set(p.batch_gold_outputs(gold[2])["gold"]) <= set(p.gold_feature_targets())
    # each session's inputs are those of the per-session rule; the batch reads their union
    sessions = p.batch_gold_sessions(gold[1])
    assert sessions["2024-05-31"]["bronze"] == p.gold_stocks_daily_inputs("2024-05-31")["bronze"]
    may = p.batch_gold_inputs(gold[1])["bronze"]  # May's sessions look back 30 sessions, into April
    assert min(partition_date_of(b) for b in may) == "2024-04-01" and len(may) == 22 + 22
    assert flat[0].rule_name == "backfill_flatfile_stocks_daily_20240401_20240430"


@pytest.mark.parametrize("window, threshold", [(("2024-06-24", "2024-06-28"), 40), (("2024-04-01", "2024-06-28"), 0),
                                               (("2024-04-01", "2024-06-28"), 64)])
def test_short_windows_and_a_zero_threshold_stay_per_session(tmp_path, window, threshold):
    p = planner(tmp_path, LakeListing.of([]), date="", start=window[0], end=window[1], backfill_batch_sessions=threshold)
    assert p.batches("flatfile") == [] and p.batches("gold") == []


def test_held_sessions_and_object_store_lakes_are_not_batched(tmp_path):
    """Only sessions whose files the lake has not got count; an object-store lake plans per
    session (its jobs read only what the DAG names)."""
    listing, days = _years_lake(tmp_path, 30, end="2024-06-28")
    p = planner(tmp_path, listing, date="", start="2024-04-01", end="2024-06-28", backfill_batch_sessions=30)
    batched = [d for b in p.batches("flatfile") for d in b.sessions]
    assert batched == [d for d in p.run.sessions if d < days[0]] and len(batched) == 63 - 30
    p = planner(tmp_path, LakeListing.of([]), date="", start="2024-04-01", end="2024-06-28", backfill_batch_sessions=30,
                bounded=False)
    assert p.batches("flatfile") == []


def test_a_completed_batch_stays_the_producer_of_its_sessions(tmp_path):
    """Its manifest makes later plans declare the same batch (the same rule for the same
    files, so Snakemake finds them up to date) and never batch its sessions again; a nightly
    run of a new day after it is per-session."""
    from quantmini.batches import read_manifest, write_manifest

    first = planner(tmp_path, LakeListing.of([]), date="", start="2024-05-01", end="2024-06-27", backfill_batch_sessions=20)
    made = first.batches("flatfile") + first.batches("gold")
    for b in made:
        write_manifest(b, b.manifest(first.lake))
    assert read_manifest(made[0].manifest(first.lake)) == made[0]
    days = [d for b in first.batches("flatfile") for d in b.sessions]
    lake = first.lake
    stored = [lake.bronze("stocks_daily", d) for d in days] + [lake.landing("stocks_daily", d) for d in days]
    held = LakeListing.of(stored, local=[lake.gold("stocks_daily", d) for d in days])
    manifests = sorted(str(m) for m in Path(tmp_path).glob(".quantmini/batches/*/*/*.json"))
    assert len(manifests) == 4  # May and June, flat files and gold
    listing = LakeListing(glob=held.glob, has=held.has,
                          local_glob=lambda pattern: manifests if "/batches/" in pattern else held.local_glob(pattern))
    again = planner(tmp_path, listing, date="", start="2024-05-01", end="2024-06-27", backfill_batch_sessions=20)
    assert again.batches("flatfile") + again.batches("gold") == made
    assert again.new_batches() == ()
    nightly = planner(tmp_path, listing, date="2024-06-28", days_back=1, backfill_batch_sessions=20)
    assert nightly.new_batches() == () and nightly.held_batches() == tuple(made)


def test_a_manifest_that_is_not_one_is_an_error_naming_it(tmp_path):
    from quantmini.batches import read_manifest

    bad = tmp_path / "m.json"
    bad.write_text('{"kind": "flatfile", "dataset": "stocks_daily", "sessions": ["2024-06-04", "2024-06-03"]}')
    with pytest.raises(ValueError, match=r"m\.json: not a backfill batch manifest .*ascending"):
        read_manifest(str(bad))


def test_only_the_batches_a_night_can_reach_are_declared(tmp_path):
    """A nightly plan declares the held batches whose sessions its DAG can name (refresh
    days, gold look-backs), not the whole history's: 20 years of manifests cost no rules."""
    from quantmini.batches import by_month, write_manifest
    from quantmini.sessions import sessions_ending

    days = [d.isoformat() for d in sessions_ending(dt.date(2024, 6, 20), 1250)]
    made = by_month("flatfile", "stocks_daily", days) + by_month("gold", "stocks_daily", days)
    for b in made:
        write_manifest(b, b.manifest(planner(tmp_path, LakeListing.of([])).lake))
    manifests = sorted(str(m) for m in Path(tmp_path).glob(".quantmini/batches/*/*/*.json"))
    held, _ = _years_lake(tmp_path, 1250, end="2024-06-20")
    listing = LakeListing(glob=held.glob, has=held.has,
                          local_glob=lambda pattern: manifests if "/batches/" in pattern else held.local_glob(pattern))
    # silver's actions not settled (a lake from before the record): every held session can be
    # planned, so every batch is declared
    p = planner(tmp_path, listing, date="2024-06-28", days_back=1, refresh_days=5)
    assert p.batch_horizon() == "0000-00-00" and len(p.batches("flatfile") + p.batches("gold")) == len(made) == 2 * 60
    _settle(p)
    p = planner(tmp_path, listing, date="2024-06-28", days_back=1, refresh_days=5)
    assert p.batch_horizon() == sessions_ending(dt.date(2024, 6, 24), 61)[0].isoformat()  # 2 x 30 back from the refresh days
    assert {b.first[:7] for b in p.batches("flatfile")} == {"2024-03", "2024-04", "2024-05", "2024-06"}
    assert p.new_batches() == ()


def test_the_qlib_universes_and_fundamentals_follow_the_store_and_silver(tmp_path):
    """The universes are a target whenever the store is (and named sizes are configured),
    reading the store's receipt, the run's bronze days and every reference tickers pull; the
    store's point-in-time fundamentals are a target when silver's every-version table is
    built by the run or held, and never without it."""
    from quantmini.paths import Lake

    lake = Lake(str(tmp_path))
    pit = [lake.silver("fundamentals_pit", f"timeframe={t}") for t in ("quarterly", "annual")]
    tickers = lake.bronze_rest("tickers", "2024-06-24", "active")
    held_paths = [lake.bronze("stocks_daily", d) for d in JUNE[:-1]] + [tickers]
    held = LakeListing.of(held_paths)
    p = planner(tmp_path, held)
    assert lake.qlib_receipt("universes") in p.gold_targets()
    assert lake.qlib_receipt("fundamentals") not in p.gold_targets()
    assert p.qlib_universes_inputs() == {"store": [lake.qlib_receipt("stocks_daily")],
                                         "bronze": [lake.bronze("stocks_daily", JUNE[-1])], "tickers": [tickers]}
    assert lake.qlib_receipt("universes") not in planner(tmp_path, held, qlib_universes=[]).gold_targets()
    with_pit = planner(tmp_path, LakeListing.of([lake.bronze("stocks_daily", d) for d in JUNE] + pit))
    assert lake.qlib_receipt("fundamentals") in with_pit.gold_targets()
    assert lake.qlib_receipt("fundamentals") not in planner(tmp_path, LakeListing.of(pit), gold_qlib=False).gold_targets()
    with pytest.raises(settings.ConfigError, match="qlib_universe_min_sessions"):
        planner(tmp_path, held, qlib_universe_min_sessions=30)
    # the minute store: when stocks_minute is held or built, after the store and the universes
    assert lake.qlib_receipt("stocks_minute") not in p.gold_targets()
    minute = planner(tmp_path, LakeListing.of([lake.bronze("stocks_minute", JUNE[0])] + held_paths),
                     datasets=["stocks_daily", "stocks_minute"])
    assert lake.qlib_receipt("stocks_minute") in minute.gold_targets()
    assert minute.qlib_minute_inputs() == {
        "store": [lake.qlib_receipt("stocks_daily"), lake.qlib_receipt("universes")],
        "minute": [lake.bronze("stocks_minute", JUNE[-1])]}
    with pytest.raises(settings.ConfigError, match="qlib_minute_universe.*liquid77"):
        planner(tmp_path, held, qlib_minute_universe="liquid77")
    no_universes = planner(tmp_path, LakeListing.of([lake.bronze("stocks_minute", JUNE[0])] + held_paths),
                           qlib_universes=[], qlib_minute_symbols=["NVDA"])
    assert no_universes.qlib_minute_universe() == "" and no_universes.qlib_minute_wanted()


@pytest.mark.parametrize("window, threads", [(dict(date="2024-06-28", days_back=1), 1),
                                             (dict(date="2024-06-28", days_back=21), 1),
                                             (dict(date="", start="2024-01-02", end="2024-06-28"), 2)])
def test_thread_pool_jobs_claim_two_cores_on_long_windows_only(tmp_path, window, threads):
    """A nightly Qlib update claiming both cores would hold the universes and the minute
    store behind it waiting; a backfill's bulk build shares hundreds of days over both."""
    assert planner(tmp_path, LakeListing.of([]), **window).pool_threads() == threads


def test_the_night_starts_the_qlib_chain_then_the_longest_conversions():
    """Snakemake runs the higher priority first: stocks_daily and stocks_minute feed the Qlib
    store (bars and VWAPs), then the options files by conversion time."""
    order = sorted(FLATFILE_DATASETS, key=lambda ds: -FLATFILE_DATASETS[ds].priority)
    assert order == ["stocks_daily", "stocks_minute", "options_minute", "options_daily"]


# ----------------------------------------------------------------------------------- REST pulls
def test_the_rest_rule_makes_only_the_runs_pull_date(tmp_path):
    """A held pull of another day is an input, never an output: no rerun trigger can pull it
    again today under its old date."""
    import re

    from quantmini.paths import Lake

    lake = Lake(str(tmp_path))
    held = LakeListing.of([lake.bronze_rest("dividends", "2024-06-27", "2024-05-28_2024-09-25")])
    p = planner(tmp_path, held, date="2024-06-28", rest_datasets=["dividends", "splits"])
    pattern = re.compile(p.pull_dates_made())
    assert pattern.fullmatch("2024-06-28") and not pattern.fullmatch("2024-06-27")
    assert p.rest_targets() and all("pull_date=2024-06-28" in t for t in p.rest_targets())


def test_a_missing_reference_tickers_pull_of_its_monday_is_made_by_the_run(tmp_path):
    """Sunday's per-ticker pulls read the last Monday's reference tickers: the run makes that
    pull when the lake lacks it, and leaves it alone when held."""
    import re

    from quantmini.paths import Lake

    lake = Lake(str(tmp_path))
    sunday = dict(date="", pull_date="2024-06-09", rest_datasets=["fundamentals"], fundamental_tickers=[])
    p = planner(tmp_path, LakeListing.of([]), **sunday)
    assert p.reference_tickers_for_pull("fundamentals", "2024-06-09") == {
        "reference": lake.bronze_rest("tickers", "2024-06-03", "active")}
    pattern = re.compile(p.pull_dates_made())
    assert pattern.fullmatch("2024-06-09") and pattern.fullmatch("2024-06-03")
    held = planner(tmp_path, LakeListing.of([lake.bronze_rest("tickers", "2024-06-03", "active")]), **sunday)
    assert re.fullmatch(held.pull_dates_made(), "2024-06-09") and not re.fullmatch(held.pull_dates_made(), "2024-06-03")
