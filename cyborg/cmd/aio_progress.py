"""What cyborg-aio shows while it starts: a step per start-up phase, as each finishes.

The phases run in the master (database, migrations) and in the API worker (the rest);
the agent's first report comes from its own thread, before or after the API is ready.
On a terminal each step is a bar on a line of its own (the start-up's log lines share
the terminal); elsewhere a plain line per step, on stderr.
"""

import threading
from typing import TextIO

from cyborg.common import progress

DATABASE = "database"
MIGRATIONS = "migrations"
API = "API application"
PLACEMENT = "embedded Placement"
CONDUCTOR = "conductor"
AGENT = "agent"
READY = "API ready"
FIRST_REPORT = "agent's first report"
PHASES = (DATABASE, MIGRATIONS, API, PLACEMENT, CONDUCTOR, AGENT, READY, FIRST_REPORT)


class Startup:
    """The start-up's progress: ``reached`` once per phase, in whatever order."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._progress = progress.Progress(
            "cyborg-aio start-up", len(PHASES), stream=stream, line_every=1, redraw=False
        )
        self._reached: set[str] = set()
        self._lock = threading.Lock()

    def reached(self, phase: str, detail: str = "") -> None:
        """``phase`` is done; a phase reached again (a restarted worker) counts once."""
        if phase not in PHASES:
            raise ValueError(f"no start-up phase {phase!r}")
        with self._lock:
            if phase in self._reached:
                return
            self._reached.add(phase)
            last = len(self._reached) == len(PHASES)
        self._progress.advance(detail=f"{phase} ({detail})" if detail else phase)
        if last:
            self._progress.finish()
