"""A pull's window: the partition name under ``pull_date=`` and the filters it stands for.

Windows are strings in the lake path (``window=<name>``), so they must be parseable:
``2024-05-15_2024-09-12`` (an inclusive date range), ``quarterly_2023-12-17_2024-06-14``
(a fundamentals timeframe and filing-date range), or a bare label (``active``, ``delisted``,
``all``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_RANGE = re.compile(r"^(?:(?P<label>[a-z]+)_)?(?P<start>\d{4}-\d{2}-\d{2})_(?P<end>\d{4}-\d{2}-\d{2})$")
_LABEL = re.compile(r"^[a-z]+$")


@dataclass(frozen=True)
class Window:
    label: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    @property
    def name(self) -> str:
        if self.start is None:
            return self.label or "all"
        rng = f"{self.start.isoformat()}_{self.end.isoformat()}"
        return f"{self.label}_{rng}" if self.label else rng

    @classmethod
    def parse(cls, name: str) -> "Window":
        m = _RANGE.match(name)
        if m:
            start, end = dt.date.fromisoformat(m["start"]), dt.date.fromisoformat(m["end"])
            if end < start:
                raise ValueError(f"window {name!r}: start {start} is after end {end}")
            return cls(m["label"], start, end)
        if _LABEL.match(name):
            return cls(name)
        raise ValueError(f"window {name!r} is neither <label>, <start>_<end> nor <label>_<start>_<end>")

    @classmethod
    def days(cls, pull_date: dt.date, back: int, ahead: int = 0, label: str | None = None) -> "Window":
        return cls(label, pull_date - dt.timedelta(days=back), pull_date + dt.timedelta(days=ahead))
