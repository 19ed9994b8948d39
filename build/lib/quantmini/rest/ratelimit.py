"""A calls-per-period limit shared by every process of every run on one lake.

The vendor's free tier allows 5 requests per minute per key, counted across everything that
uses the key. Snakemake runs API jobs as separate processes (and, on a cluster, on separate
hosts sharing the lake), so an in-process token bucket is not enough: the window of recent
call times lives in a small file under the lake, read and updated under ``flock``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RateLimiter:
    """Sliding window: at most ``calls`` request starts in any ``period`` seconds.

    ``margin`` widens the window the client keeps, so that the server, which sees a request
    a little after the client starts it, never counts more than ``calls`` in its own window.
    ``calls <= 0`` means unlimited (paid tiers): requests are only counted.
    """

    state_file: Path
    calls: int
    period: float = 60.0
    margin: float = 1.0
    acquired: int = 0  # requests started by this process through this limiter
    waited: float = 0.0  # seconds this process slept for the limit

    def acquire(self) -> None:
        self.acquired += 1
        if self.calls <= 0:
            return
        window = self.period + self.margin
        path = Path(self.state_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            with open(path, "a+") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                fh.seek(0)
                now = time.time()
                try:
                    stamps = [float(t) for t in json.loads(fh.read() or "[]")]
                except (ValueError, TypeError):
                    # Unreadable state (e.g. a crash mid-write): assume the window is full.
                    stamps = [now] * self.calls
                stamps = sorted(t for t in stamps if t > now - window)
                if len(stamps) < self.calls:
                    stamps.append(now)
                    fh.seek(0)
                    fh.truncate()
                    fh.write(json.dumps(stamps))
                    fh.flush()
                    os.fsync(fh.fileno())
                    return
                wait = stamps[len(stamps) - self.calls] + window - now
            pause = max(wait, 0.005)
            self.waited += pause
            time.sleep(pause)
