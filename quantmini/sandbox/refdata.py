"""Reference data for the REST half, derived from the same synthetic market as the flat files.

So the REST datasets and the flat files agree: a split listed here is a jump in the raw
prices; a dividend's ex-date is the one the market priced; an IPO's listing date is the first
session the name trades; a ticker change is the day the flat files switch symbols; short
volume totals are the day bars' volumes. Everything is a pure function of (seed, query), so
every page of a paginated answer comes from the same records.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np

from ..sessions import is_session, sessions_between
from .market import EPOCH_START, Market, _ord

PUBLISHERS = (
    ("Benzinga", "https://www.benzinga.com/"),
    ("The Motley Fool", "https://www.fool.com/"),
    ("GlobeNewswire Inc.", "https://www.globenewswire.com"),
    ("Zacks Investment Research", "https://www.zacks.com/"),
)


def _id(*parts) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()


def _d(o: int) -> str:
    return dt.date.fromordinal(int(o)).isoformat()


class RefData:
    def __init__(self, market: Market, as_of: dt.date):
        self.m = market
        self.as_of = as_of
        #: (kind, ticker, date) of actions the vendor has not announced yet: a split, a
        #: dividend or a ticker change (by its new ticker) listed only after its date, as real
        #: feeds sometimes list them (``/_sandbox/actions``); the flat files are the same
        self.withheld: set[tuple[str, str, str]] = set()

    def _listed(self, kind: str, rows: list[dict], date_field: str) -> list[dict]:
        if not self.withheld:
            return rows
        return [r for r in rows if (kind, r["ticker"], r[date_field]) not in self.withheld]

    # -- corporate actions -------------------------------------------------------------------
    def splits(self, start: dt.date, end: dt.date) -> list[dict]:
        df = self.m.splits()
        df = df[(df["execution_date"] >= start) & (df["execution_date"] <= end)]
        out = []
        for r in df.itertuples(index=False):
            out.append({
                "id": "P" + _id("split", r.ticker, r.execution_date)[:31],
                "ticker": r.ticker,
                "execution_date": r.execution_date.isoformat(),
                "split_from": float(r.split_from),
                "split_to": float(r.split_to),
                "adjustment_type": "forward_split" if r.split_to > r.split_from else "reverse_split",
                "historical_adjustment_factor": round(float(r.split_from / r.split_to), 8),
            })
        return self._listed("split", out, "execution_date")

    def dividends(self, start: dt.date, end: dt.date) -> list[dict]:
        df = self.m.dividends(start, end)
        out = []
        for r in df.itertuples(index=False):
            special = r.frequency == 0 or int(_id("special", r.ticker, r.ex_dividend_date)[:4], 16) % 23 == 0
            out.append({
                "id": "E" + _id("div", r.ticker, r.ex_dividend_date)[:31],
                "ticker": r.ticker,
                "cash_amount": float(r.cash_amount),
                "currency": "USD",
                "declaration_date": r.declaration_date.isoformat(),
                "ex_dividend_date": r.ex_dividend_date.isoformat(),
                "record_date": r.record_date.isoformat(),
                "pay_date": r.pay_date.isoformat(),
                "frequency": 0 if special else int(r.frequency),
                "dividend_type": "SC" if special else "CD",
                "distribution_type": "special" if special else "recurring",
                "historical_adjustment_factor": 1.0,
                "split_adjusted_cash_amount": float(r.cash_amount),
            })
        return self._listed("dividend", out, "ex_dividend_date")

    def ipos(self, start: dt.date, end: dt.date) -> list[dict]:
        u = self.m.universe
        idx = np.flatnonzero((u.list_ord > _ord(EPOCH_START)) & (u.list_ord >= _ord(start)) & (u.list_ord <= _ord(end)))
        out = []
        for i in idx.tolist():
            o = int(u.list_ord[i])
            price = float(self.m._adjusted_level(o)[i] * self.m.split_factor(o)[i])
            shares = float(round(u.avg_volume[i] * 40, -3))
            listing = dt.date.fromordinal(o)
            out.append({
                "ticker": self.m.symbols_on(o)[i],
                "issuer_name": f"{u.symbols[i]} Holdings Inc.",
                "ipo_status": "history" if listing <= self.as_of else "pending",
                "announced_date": (listing - dt.timedelta(days=21)).isoformat(),
                "listing_date": listing.isoformat(),
                "issue_start_date": (listing - dt.timedelta(days=7)).isoformat(),
                "issue_end_date": (listing - dt.timedelta(days=1)).isoformat(),
                "last_updated": listing.isoformat(),
                "currency_code": "USD",
                "final_issue_price": round(price, 2),
                "lowest_offer_price": round(price * 0.9, 2),
                "highest_offer_price": round(price * 1.1, 2),
                "min_shares_offered": shares * 0.8,
                "max_shares_offered": shares,
                "total_offer_size": round(shares * price, 2),
                "shares_outstanding": shares * 5,
                "lot_size": 100,
                "primary_exchange": "XNAS" if i % 2 else "XNYS",
                "security_type": str(u.kind[i]),
                "security_description": "Ordinary Shares",
                "isin": f"US{_id('isin', i)[:9].upper()}0",
                "us_code": _id("cusip", i)[:9].upper(),
            })
        return out

    # -- reference tickers and events --------------------------------------------------------
    def cik(self, i: int) -> str:
        return f"{1_000_000 + i:010d}"

    def figi(self, i: int) -> str:
        return "BBG" + _id("figi", i)[:9].upper()

    def tickers(self) -> list[dict]:
        """Every symbol ever listed, ``active`` as of the sandbox's last date; a renamed
        name's old symbol is inactive from the change."""
        u = self.m.universe
        as_of = _ord(self.as_of)
        out = []
        for i, sym in enumerate(u.symbols.tolist()):
            if u.list_ord[i] > as_of:
                continue
            active = bool(u.delist_ord[i] >= as_of)
            out.append(self._ticker(i, sym, active, None if active else _d(u.delist_ord[i] + 1)))
        for i, old, first in u.renames:
            if first <= as_of:
                out.append(self._ticker(i, old, False, _d(first)))
        return out

    def _ticker(self, i: int, sym: str, active: bool, delisted: str | None) -> dict:
        u = self.m.universe
        rec = {
            "ticker": sym,
            "name": f"{u.symbols[i]} Holdings Inc.",
            "market": "stocks",
            "locale": "us",
            "primary_exchange": "XNAS" if i % 2 else "XNYS",
            "type": str(u.kind[i]),
            "active": active,
            "currency_name": "usd",
            "cik": self.cik(i),
            "composite_figi": self.figi(i),
            "share_class_figi": "BBG" + _id("share", i)[:9].upper(),
            "last_updated_utc": f"{self.as_of.isoformat()}T00:00:00Z",
        }
        if delisted:
            rec["delisted_utc"] = f"{delisted}T00:00:00Z"
        return rec

    def ticker_events(self, ticker: str) -> dict | None:
        u = self.m.universe
        i = u.index.get(ticker)
        if i is None:
            return None
        events = [{"type": "ticker_change", "date": _d(first), "ticker_change": {"ticker": u.symbols[i]}}
                  for j, old, first in u.renames if j == i]
        first_symbol = next((old for j, old, _ in u.renames if j == i), u.symbols[i])
        events.append({"type": "ticker_change", "date": _d(u.list_ord[i]), "ticker_change": {"ticker": first_symbol}})
        events = [e for e in events if ("ticker_change", e["ticker_change"]["ticker"], e["date"]) not in self.withheld]
        events.sort(key=lambda e: e["date"], reverse=True)
        return {"name": f"{u.symbols[i]} Holdings Inc.", "composite_figi": self.figi(i), "cik": self.cik(i), "events": events}

    # -- fundamentals ------------------------------------------------------------------------
    def filings(self, start: dt.date, end: dt.date) -> list[dict]:
        """Every common stock's 10-Q (Q1-Q3) and 10-K (FY) filed in [start, end]: one record per
        filing with values by statement and current concept name (see rest.datasets.CONCEPTS)."""
        u = self.m.universe
        out = []
        for year in range(start.year - 1, end.year + 1):
            for q, (month, day) in enumerate(((3, 31), (6, 30), (9, 30), (12, 31)), start=1):
                period_end = dt.date(year, month, day)
                for annual in ((False, True) if q == 4 else (False,)):
                    if q == 4 and not annual:
                        continue  # no 10-Q for the fourth quarter
                    lag = 60 if annual else 40
                    filed = period_end + dt.timedelta(days=lag)
                    if not (start - dt.timedelta(days=15) <= filed <= end + dt.timedelta(days=15)):
                        continue
                    for i in np.flatnonzero((u.kind == "CS") & (u.list_ord < _ord(period_end)) & (u.delist_ord > _ord(filed))).tolist():
                        f = filed + dt.timedelta(days=int(i % 11))
                        if start <= f <= end:
                            out.append(self._filing(i, year, q, annual, period_end, f))
        return out

    def _filing(self, i: int, year: int, q: int, annual: bool, period_end: dt.date, filed: dt.date) -> dict:
        u = self.m.universe
        rng = np.random.default_rng([self.m.seed, 7, i, year, q, int(annual)])
        scale = 4.0 if annual else 1.0
        base = float(u.avg_volume[i] * 40 * u.anchor_price[i] / 30)
        revenue = round(base * scale * rng.uniform(0.8, 1.2), -3)
        cost = round(revenue * rng.uniform(0.3, 0.7), -3)
        opex = round((revenue - cost) * rng.uniform(0.3, 0.9), -3)
        rnd = round(opex * 0.3, -3)
        sga = round(opex - rnd, -3)
        op_income = revenue - cost - rnd - sga
        tax = round(max(op_income, 0) * 0.21, -3)
        net = op_income - tax
        shares = round(u.avg_volume[i] * 50, -3)
        assets = round(base * 6 * rng.uniform(0.8, 1.2), -3)
        cur_assets = round(assets * 0.4, -3)
        liabilities = round(assets * rng.uniform(0.3, 0.7), -3)
        cur_liab = round(liabilities * 0.5, -3)
        equity = assets - liabilities
        ocf = round(net * rng.uniform(0.9, 1.4), -3)
        icf = round(-revenue * rng.uniform(0.02, 0.1), -3)
        fcf = round(-revenue * rng.uniform(0.0, 0.05), -3)
        values = {
            "income_statement": {
                "revenue": revenue, "cost_of_revenue": cost, "gross_profit": revenue - cost,
                "research_development": rnd, "selling_general_administrative": sga,
                "total_operating_expenses": rnd + sga, "operating_income": op_income,
                "income_before_income_taxes": op_income, "income_taxes": tax, "consolidated_net_income_loss": net,
                "basic_earnings_per_share": round(net / shares, 2), "diluted_earnings_per_share": round(net / (shares * 1.02), 2),
                "basic_shares_outstanding": shares, "diluted_shares_outstanding": round(shares * 1.02, -3),
            },
            "balance_sheet": {
                "total_assets": assets, "total_current_assets": cur_assets, "total_liabilities": liabilities,
                "total_current_liabilities": cur_liab, "total_equity": equity, "total_liabilities_and_equity": assets,
                "inventories": round(cur_assets * 0.3, -3), "accounts_payable": round(cur_liab * 0.4, -3),
            },
            "cash_flow_statement": {
                "net_cash_from_operating_activities": ocf, "net_cash_from_investing_activities": icf,
                "net_cash_from_financing_activities": fcf, "change_in_cash_and_equivalents": ocf + icf + fcf,
            },
        }
        start = dt.date(year, 1, 1) if annual else dt.date(year, 3 * q - 2, 1)
        return {
            "i": i, "ticker": u.symbols[i], "cik": self.cik(i), "tickers": [u.symbols[i]],
            "company_name": f"{u.symbols[i]} Holdings Inc.", "period_start": start, "period_end": period_end,
            "filing_date": filed, "fiscal_year": year, "fiscal_quarter": q,
            "timeframe": "annual" if annual else "quarterly", "values": values,
        }

    # -- news --------------------------------------------------------------------------------
    def news(self, start: dt.date, end: dt.date) -> list[dict]:
        u = self.m.universe
        per_day = max(5, self.m.n_tickers // 20)
        out = []
        d = start
        while d <= end:
            rng = np.random.default_rng([self.m.seed, 8, _ord(d)])
            listed = np.flatnonzero(self.m.listed(_ord(d)))
            syms = self.m.symbols_on(_ord(d))
            secs = np.sort(rng.integers(0, 86400, per_day))
            for k in range(per_day):
                picks = [str(syms[j]) for j in rng.choice(listed, size=int(rng.integers(1, 4)), replace=False)]
                pub_name, home = PUBLISHERS[int(rng.integers(len(PUBLISHERS)))]
                sentiment = ("positive", "neutral", "negative")[int(rng.integers(3))]
                ident = _id("news", d, k)
                stamp = dt.datetime.combine(d, dt.time()) + dt.timedelta(seconds=int(secs[k]))
                out.append({
                    "id": ident,
                    "publisher": {"name": pub_name, "homepage_url": home, "logo_url": f"{home}logo.png", "favicon_url": f"{home}favicon.ico"},
                    "title": f"{picks[0]} shares move on {d.isoformat()} session news",
                    "author": "Sandbox Newsroom",
                    "published_utc": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "article_url": f"https://news.example/{ident}",
                    "tickers": picks,
                    "image_url": f"https://news.example/{ident}.jpg",
                    "description": f"What moved {', '.join(picks)} today.",
                    "keywords": ["markets", sentiment],
                    "insights": [{"ticker": t, "sentiment": sentiment, "sentiment_reasoning": f"{t} coverage is {sentiment}."} for t in picks],
                })
            d += dt.timedelta(days=1)
        return out

    # -- short data --------------------------------------------------------------------------
    def short_interest(self, start: dt.date, end: dt.date) -> list[dict]:
        """FINRA settlement dates: the 15th and the month's last day (moved back to a session)."""
        u = self.m.universe
        out = []
        for year in range(start.year, end.year + 1):
            for month in range(1, 13):
                last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1))
                for day in (dt.date(year, month, 15), last):
                    while not is_session(day):
                        day -= dt.timedelta(days=1)
                    if not (start <= day <= end):
                        continue
                    o = _ord(day)
                    rng = np.random.default_rng([self.m.seed, 9, o])
                    ratio = rng.uniform(0.5, 6.0, u.symbols.size)
                    syms = self.m.symbols_on(o)
                    for i in np.flatnonzero(self.m.listed(o)).tolist():
                        adv = int(round(u.avg_volume[i]))
                        si = int(round(adv * ratio[i]))
                        out.append({"ticker": str(syms[i]), "settlement_date": day.isoformat(), "short_interest": si,
                                    "avg_daily_volume": adv, "days_to_cover": round(si / max(adv, 1), 2)})
        return out

    def short_volume(self, start: dt.date, end: dt.date) -> list[dict]:
        out = []
        for day in sessions_between(start, end):
            bars = self.m.published_day_bars(day)
            rng = np.random.default_rng([self.m.seed, 10, _ord(day)])
            total = np.floor(bars["volume"].to_numpy()).astype(np.int64)
            ratio = rng.uniform(0.2, 0.6, total.size)
            short = np.round(total * ratio).astype(np.int64)
            exempt = np.round(short * 0.01).astype(np.int64)
            nyse = np.round(short * 0.3).astype(np.int64)
            carteret = np.round(short * 0.5).astype(np.int64)
            chicago = np.round(short * 0.05).astype(np.int64)
            adf = short - nyse - carteret - chicago
            for k, t in enumerate(bars["ticker"].tolist()):
                out.append({
                    "ticker": t, "date": day.isoformat(), "short_volume": int(short[k]), "total_volume": int(total[k]),
                    "short_volume_ratio": round(100.0 * short[k] / total[k], 2) if total[k] else 0.0,
                    "exempt_volume": int(exempt[k]), "non_exempt_volume": int(short[k] - exempt[k]),
                    "adf_short_volume": int(adf[k]), "adf_short_volume_exempt": 0,
                    "nasdaq_carteret_short_volume": int(carteret[k]), "nasdaq_carteret_short_volume_exempt": 0,
                    "nasdaq_chicago_short_volume": int(chicago[k]), "nasdaq_chicago_short_volume_exempt": 0,
                    "nyse_short_volume": int(nyse[k]), "nyse_short_volume_exempt": int(exempt[k]),
                })
        return out
