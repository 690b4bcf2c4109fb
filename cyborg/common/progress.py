"""Progress of long work: a bar redrawn in place on a terminal, plain lines otherwise.

A command makes one :class:`Progress` and hands it, typed as :class:`Reporter`, to
the code that does the work; that code names its stages (:meth:`Reporter.phase`) and
counts their steps (:meth:`Reporter.advance`) and says what a long step is doing
(:meth:`Reporter.note`). Code that is also run without anyone
watching (the conductor's periodic audit, the API's planner) takes :data:`SILENT`.

On a terminal (``isatty`` and ``TERM`` not ``dumb``) the bar is redrawn with a
carriage return at most every ``redraw_interval`` seconds of the injected clock, and
only when its text changes. Elsewhere (a log file, a pipe, CI) a plain line is
written when a stage starts, for each note, each ``percent_step`` percent of a stage with a known
total (or every ``line_every`` steps), and at the end. Progress goes to stderr by
default, so that a command's own output on stdout stays parseable.
"""

import math
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, TextIO

SPINNER = "|/-\\"
BAR_CELLS = 24
# Steps between plain lines of a stage whose total is unknown, unless told.
UNKNOWN_TOTAL_EVERY = 100


class Reporter(Protocol):
    """What long work tells about itself."""

    def phase(self, name: str, total: float | None = None) -> None:
        """A new stage begins: its name, and its steps (None: not known)."""

    def advance(self, steps: float = 1, detail: str = "") -> None:
        """``steps`` more of the stage are done; ``detail`` says what the last was."""

    def note(self, detail: str) -> None:
        """What the work is doing now, between steps (a table converted, rows updated)."""


class _Silent:
    """The reporter for work nobody watches."""

    def phase(self, name: str, total: float | None = None) -> None:
        pass

    def advance(self, steps: float = 1, detail: str = "") -> None:
        pass

    def note(self, detail: str) -> None:
        pass


SILENT: Reporter = _Silent()


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal that can redraw a line."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


class Progress:
    """Progress of one command's work, drawn on ``stream`` (stderr by default).

    ``redraw=False`` keeps the terminal's bar but draws each update on a line of its
    own: for start-ups whose log lines share the terminal with it.
    """

    def __init__(
        self,
        label: str,
        total: float | None = None,
        *,
        stream: TextIO | None = None,
        percent_step: int = 10,
        line_every: int | None = None,
        redraw: bool = True,
        redraw_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = is_terminal(self.stream)
        self.redraw = redraw
        self.percent_step = max(1, percent_step)
        self.line_every = line_every
        self.redraw_interval = redraw_interval
        self.clock = clock
        self.width = width or shutil.get_terminal_size((80, 24)).columns
        self._lock = threading.Lock()
        self._started = clock()
        self._stage = ""
        self._begin_stage(total)
        self._drawn = ""  # the terminal line last drawn
        self._drawn_at = -math.inf
        self._finished = False

    def _begin_stage(self, total: float | None) -> None:
        self.total = total
        self.done = 0.0
        self.detail = ""
        self._spins = 0
        self._lined_at = 0.0  # steps at the last plain line
        self._lined_mark = 0  # percent mark (or step count) of the last plain line

    # -- the Reporter interface ------------------------------------------------------

    def phase(self, name: str, total: float | None = None) -> None:
        with self._lock:
            self._stage = name
            self._begin_stage(total)
            if self.terminal:
                if self._drawn and self.redraw:
                    self._write("\n")  # the stage before keeps its last line
                    self._drawn = ""
                self._draw(force=True)
            else:
                self._line(name + _to_do(total))

    def advance(self, steps: float = 1, detail: str = "") -> None:
        with self._lock:
            self.done += steps
            if self.total is not None:  # work estimated in units may overrun its total
                self.done = min(self.done, self.total)
            self._spins += 1
            if detail:
                self.detail = detail
            if self.terminal:
                self._draw(force=self.total is not None and self.done >= self.total)
            elif self._line_due():
                self._line(self._status())

    def note(self, detail: str) -> None:
        with self._lock:
            self.detail = detail
            if self.terminal:
                self._draw(force=True)  # notes are few, and each says something new
            else:
                self._line(self._status())

    def finish(self, detail: str = "", failed: bool = False) -> None:
        """The work ended: the last state, the time it took; a newline on a terminal."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            seconds = self.clock() - self._started
            if self.terminal:
                self.detail = detail or self.detail
                self._draw(force=True)
                if self.redraw:
                    self._write("\n")
            else:
                self.detail = detail  # the last step's was on its own line
                ending = "stopped" if failed else "done"
                self._line(f"{ending} in {seconds:.1f}s: {self._status()}")

    def __enter__(self) -> "Progress":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.finish(failed=kind is not None)

    # -- drawing ---------------------------------------------------------------------

    def _status(self) -> str:
        """``stage: 3/12 (25%) detail``, ``stage: 37 detail`` with no total, or
        ``stage: detail`` before the first step."""
        parts = []
        if self.total:
            percent = min(100, int(100 * self.done / self.total))
            parts.append(f"{_count(self.done)}/{_count(self.total)} ({percent}%)")
        elif self.done or self.total == 0 or not (self.detail or self._stage):
            parts.append(_count(self.done))
        if self.detail:
            parts.append(self.detail)
        if not self._stage:
            return " ".join(parts)
        return f"{self._stage}: {' '.join(parts)}" if parts else self._stage

    def _line_due(self) -> bool:
        """Whether a plain line is due: a new percent mark, or ``line_every`` steps."""
        if self.line_every is not None or not self.total:
            every = self.line_every or UNKNOWN_TOTAL_EVERY
            if self.done - self._lined_at < every:
                return False
            self._lined_at = self.done
            return True
        mark = int(100 * min(self.done, self.total) / self.total) // self.percent_step
        if mark <= self._lined_mark:
            return False
        self._lined_mark = mark
        return True

    def _line(self, text: str) -> None:
        self._write(f"{self.label}: {text}\n")

    def _bar(self) -> str:
        if self.total:
            filled = int(BAR_CELLS * min(self.done, self.total) / self.total)
            return "[" + "#" * filled + "." * (BAR_CELLS - filled) + "]"
        return SPINNER[self._spins % len(SPINNER)]

    def _draw(self, force: bool = False) -> None:
        """Redraw the bar when its text changed and the last draw is old enough."""
        now = self.clock()
        if not force and now - self._drawn_at < self.redraw_interval:
            return
        text = f"{self.label} {self._bar()} {self._status()}"[: max(10, self.width - 1)]
        if text == self._drawn:
            return
        self._drawn, self._drawn_at = text, now
        self._write(f"\r{text}\x1b[K" if self.redraw else f"{text}\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not stop the work
            pass


def _to_do(total: float | None) -> str:
    if total is None:
        return ""
    return ": nothing to do" if total == 0 else f": {_count(total)} to do"


def _count(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"
