"""Split and dividend adjustment factors, Qlib's backward convention.

Qlib stores adjusted prices and a ``$factor`` such that raw = ``$close / $factor``. The
factors here are backward-adjusted as of the store's last session L: every action whose
ex-date e satisfies e <= L scales each earlier bar (date < e) of its symbol:

- a split by ``1 / split_ratio`` (to/from: 10-for-1 is 10, a 1-for-10 reverse split 0.1);
- a cash dividend D by ``1 - D / C``, C the symbol's last raw close before e.

Bars on or after the latest applied ex-date keep factor 1.0, so a day appended after it is
written without touching history. An action with e > L changes nothing yet.

Actions the prices contradict are not applied and are reported instead: a split without a
matching jump between the last close before e and the first close from e on (the observed
ratio must be within a factor ``sqrt(ratio)`` of the announced one, i.e. nearer to it than to
"no split"), a split whose symbol has no bar from e on yet (unverifiable until it trades), a
dividend with no close before e, or one that is not below that close.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..rest.datasets import CASH_DIVIDEND_TYPES  # regular and special cash

BASES = ("total", "split")  # total return (splits and dividends) or price return (splits only)


@dataclass(frozen=True)
class Action:
    """One corporate action that may scale a symbol's history."""

    ticker: str
    kind: str  # "split" | "dividend"
    ex_date: dt.date
    value: float  # split ratio (to/from) or cash amount per share
    event_id: str = ""

    def describe(self) -> str:
        what = f"split {self.value:g}" if self.kind == "split" else f"dividend {self.value:g}"
        return f"{self.ticker} {what} ex {self.ex_date.isoformat()}"


@dataclass(frozen=True)
class Skipped:
    action: Action
    reason: str

    def to_json(self) -> dict:
        a = self.action
        return {"ticker": a.ticker, "kind": a.kind, "ex_date": a.ex_date.isoformat(), "value": a.value,
                "event_id": a.event_id, "reason": self.reason}


def load_actions(split_file: str | Path | None, dividend_file: str | Path | None, basis: str = "total") -> dict[str, list[Action]]:
    """The silver splits and cash dividends, by vendor ticker, in a stable order; rows the
    silver cleansing flagged (quantmini.silver.cleansing) are skipped."""
    from ..silver import read_clean

    if basis not in BASES:
        raise ValueError(f"config key 'qlib_adjustment': {basis!r} is not one of {', '.join(BASES)}")
    out: dict[str, list[Action]] = {}
    if split_file and Path(split_file).exists():
        t = read_clean(split_file, ["ticker", "event_date", "event_id", "split_ratio"]).to_pylist()
        for r in t:
            if r["event_date"] is None or r["split_ratio"] is None:
                continue
            out.setdefault(r["ticker"], []).append(Action(r["ticker"], "split", r["event_date"], float(r["split_ratio"]), r["event_id"] or ""))
    if basis == "total" and dividend_file and Path(dividend_file).exists():
        t = read_clean(dividend_file, ["ticker", "event_date", "event_id", "div_cash_amount", "div_type"]).to_pylist()
        for r in t:
            if r["event_date"] is None or r["div_cash_amount"] is None or r["div_type"] not in CASH_DIVIDEND_TYPES:
                continue
            out.setdefault(r["ticker"], []).append(Action(r["ticker"], "dividend", r["event_date"], float(r["div_cash_amount"]), r["event_id"] or ""))
    for actions in out.values():
        actions.sort(key=lambda a: (a.ex_date, a.kind, a.value, a.event_id))
    return out


def effective(actions: list[Action], last_session: dt.date) -> list[Action]:
    """The actions a store ending at ``last_session`` applies (ex-date on or before it)."""
    return [a for a in actions if a.ex_date <= last_session]


def in_range(actions: list[Action], first_bar: dt.date) -> list[Action]:
    """The actions that can change a series whose first bar is ``first_bar``: ex-date after
    it. An action on or before it has no earlier close to scale (backward adjustment) and
    changes nothing, whatever it says: it is neither applied, nor a reason to rewrite a
    series, nor reported as skipped (an old dividend brought by the corporate-action backfill
    ahead of the lake's first bar)."""
    return [a for a in actions if a.ex_date > first_bar]


def fingerprint(actions: list[Action]) -> str:
    """Identity of a symbol's effective actions: when it changes, its history is rewritten."""
    text = ";".join(f"{a.kind}|{a.ex_date.isoformat()}|{a.value!r}" for a in actions)
    return hashlib.sha256(text.encode()).hexdigest()[:16] if text else ""


def resolve(actions: list[Action], bar_ords: np.ndarray, raw_close: np.ndarray) -> tuple[list[tuple[int, float]], list[Skipped]]:
    """Which effective actions apply to one symbol, with their multipliers.

    ``bar_ords`` are the symbol's bar dates (proleptic ordinals, ascending) and ``raw_close``
    its raw closes. Returns ``[(ex_ordinal, multiplier)]`` and the actions not applied.
    """
    applied: list[tuple[int, float]] = []
    skipped: list[Skipped] = []
    for a in actions:
        ex = a.ex_date.toordinal()
        before = int(np.searchsorted(bar_ords, ex, side="left"))  # bars [0, before) precede ex
        if before == 0:
            if a.kind == "dividend":
                skipped.append(Skipped(a, "no close before the ex-date"))
            continue  # nothing earlier to scale
        prev_close = float(raw_close[before - 1])
        if a.kind == "split":
            ratio = a.value
            if not (math.isfinite(ratio) and ratio > 0) or ratio == 1.0:
                skipped.append(Skipped(a, f"split ratio {ratio!r} is not a positive ratio other than 1"))
                continue
            if before == len(bar_ords):
                skipped.append(Skipped(a, "no bar on or after the ex-date to verify the split"))
                continue
            next_close = float(raw_close[before])
            if not (prev_close > 0 and next_close > 0):
                skipped.append(Skipped(a, "no positive close around the ex-date"))
                continue
            observed = math.log(prev_close / next_close)
            if abs(observed - math.log(ratio)) >= 0.5 * abs(math.log(ratio)):
                skipped.append(Skipped(a, f"prices show no matching jump (close {prev_close:g} -> {next_close:g}, ratio {prev_close / next_close:.4g})"))
                continue
            applied.append((ex, 1.0 / ratio))
        else:
            cash = a.value
            if not (math.isfinite(cash) and cash > 0):
                skipped.append(Skipped(a, f"cash amount {cash!r} is not positive"))
                continue
            if not cash < prev_close:
                skipped.append(Skipped(a, f"dividend {cash:g} is not below the previous close {prev_close:g}"))
                continue
            applied.append((ex, 1.0 - cash / prev_close))
    return applied, skipped


def factors(bar_ords: np.ndarray, applied: list[tuple[int, float]]) -> np.ndarray:
    """Per-bar factor: the product of the multipliers of every applied action after the bar.

    Computed from the latest ex-date backwards, so each bar's factor is one fixed sequence of
    float64 products whatever else is being computed: an incremental update and a full
    rebuild give the same bits.
    """
    out = np.ones(len(bar_ords), dtype=np.float64)
    if not applied:
        return out
    level = 1.0
    for ex, mult in sorted(applied, key=lambda x: (-x[0], x[1])):
        level = level * mult
        upto = int(np.searchsorted(bar_ords, ex, side="left"))
        # bars before this ex-date get (at least) this level; earlier actions multiply further
        out[:upto] = level
    # The loop assigns the running product to every bar before each ex-date, latest first,
    # so a bar ends with the product of all actions after it.
    return out


@dataclass(frozen=True)
class ActionIndex:
    """Every action of a silver split/dividend pair, by ex-date, for the fingerprint of the
    actions in any ex-date range in O(log n): what a gold session's features depend on.

    The workflow passes the fingerprint of each session's window as a rule parameter, so a
    late split reruns exactly the sessions whose window holds its ex-date (Snakemake reruns
    a job whose parameters changed), and a silver rebuild that changes nothing reruns none.
    Each action hashes to 64 bits; a range's fingerprint is the XOR of its hashes (from a
    prefix-XOR array) and its count.
    """

    ords: np.ndarray
    prefix: np.ndarray

    @classmethod
    def build(cls, split_file: str | Path | None, dividend_file: str | Path | None, basis: str = "total") -> "ActionIndex":
        rows = sorted(
            (a.ex_date.toordinal(), f"{a.ticker}|{a.kind}|{a.ex_date.isoformat()}|{a.value!r}")
            for acts in load_actions(split_file, dividend_file, basis).values()
            for a in acts
        )
        hashes = np.array([int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") for _, t in rows],
                          dtype=np.uint64)
        prefix = np.zeros(len(rows) + 1, dtype=np.uint64)
        if len(rows):
            prefix[1:] = np.bitwise_xor.accumulate(hashes)
        return cls(np.array([o for o, _ in rows], dtype=np.int64), prefix)

    def fingerprint(self, after: dt.date, upto: dt.date) -> str:
        """Identity of the actions with ``after < ex_date <= upto``."""
        i = int(np.searchsorted(self.ords, after.toordinal(), side="right"))
        j = int(np.searchsorted(self.ords, upto.toordinal(), side="right"))
        if j <= i:
            return "none"
        return f"{j - i}-{int(self.prefix[j] ^ self.prefix[i]):016x}"
