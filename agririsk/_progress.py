"""A small progress display for the command line (stderr). Library code only calls it."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Callable ``progress(done, total)`` that draws ``label: done/total (pct) eta`` on stderr.

    On a terminal the line is redrawn in place; in a log file (cron) a line is written at
    each tenth of the way, so logs stay short.
    """

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.t0 = time.monotonic()
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        frac = done / total
        elapsed = time.monotonic() - self.t0
        eta = f", {elapsed / frac - elapsed:.0f}s left" if 0 < frac < 1 else ""
        line = f"{self.label}: {done}/{total} ({frac:.0%}{eta})"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
            self.stream.flush()
        else:
            decile = int(frac * 10)
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(line + "\n")
