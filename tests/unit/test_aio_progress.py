"""cyborg-aio's start-up steps: counted as each phase finishes, whatever the order."""

import io

import pytest

from cyborg.cmd import aio_progress


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_each_phase_counts_once_and_the_last_ends_the_start_up() -> None:
    stream = Pipe()
    startup = aio_progress.Startup(stream)
    *first, last = aio_progress.PHASES
    startup.reached(aio_progress.DATABASE, "sqlite:///state/cyborg.sqlite")
    startup.reached(aio_progress.DATABASE)  # a restarted worker: counted once
    for phase in first[1:]:
        startup.reached(phase)
    assert "done in" not in stream.getvalue()
    startup.reached(last, "host-1")
    lines = stream.getvalue().splitlines()
    total = len(aio_progress.PHASES)
    assert lines[0] == (
        f"cyborg-aio start-up: 1/{total} (12%) database (sqlite:///state/cyborg.sqlite)"
    )
    assert lines[total - 1] == (
        f"cyborg-aio start-up: {total}/{total} (100%) agent's first report (host-1)"
    )
    assert len(lines) == total + 1 and lines[-1].startswith("cyborg-aio start-up: done in ")


def test_an_unknown_phase_is_refused() -> None:
    with pytest.raises(ValueError, match="no start-up phase"):
        aio_progress.Startup(Pipe()).reached("warp drive")
