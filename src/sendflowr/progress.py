"""A progress line for long runs: done / total, rate and ETA, rewritten in place on stderr.

For runs of millions of events (``bench/scale.py``, bulk loads) where a rich
progress bar is not wanted (logs, pipes): ``ProgressLine.advance(n)`` is cheap
and prints at most once per ``every`` seconds; ``close()`` prints the final line.
On a terminal the line is rewritten (``\\r``); otherwise each update is a new line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressLine", "format_duration"]


def format_duration(seconds: float) -> str:
    """``75.0`` → ``1m15s``; ``3725`` → ``1h02m``; under a minute ``42s``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class ProgressLine:
    """Counts work done towards ``total`` (None: unknown) and reports rate and ETA.

    ``every``: seconds between two printed lines; ``clock``: monotonic seconds
    (injected for tests); ``stream``: where lines go (default stderr).
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "events",
        every: float = 2.0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self._every = every
        self._stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._enabled = enabled
        self._began = clock()
        self._printed = self._began
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())

    def line(self) -> str:
        """The current progress text (no newline)."""
        elapsed = max(self._clock() - self._began, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.label}: {self.done:,}"]
        if self.total:
            parts[0] += f" / {self.total:,} {self.unit} ({min(self.done / self.total, 1):.0%})"
        else:
            parts[0] += f" {self.unit}"
        parts.append(f"{rate:,.0f} {self.unit}/s")
        parts.append(f"elapsed {format_duration(elapsed)}")
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"ETA {format_duration((self.total - self.done) / rate)}")
        return ", ".join(parts)

    def advance(self, n: int) -> None:
        """Count ``n`` more; print when ``every`` seconds passed since the last line."""
        self.done += n
        now = self._clock()
        if self._enabled and now - self._printed >= self._every:
            self._printed = now
            self._write(self.line(), final=False)

    def close(self) -> None:
        """Print the final line."""
        if self._enabled:
            self._write(self.line(), final=True)

    def _write(self, text: str, *, final: bool) -> None:
        if self._tty:
            self._stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        else:
            self._stream.write(text + "\n")
        self._stream.flush()
