"""The progress reporter: a redrawn bar on a terminal, plain lines elsewhere.

The streams are StringIOs that say whether they are a terminal; the clock is a list
the test moves by hand, so nothing here depends on how fast the machine is.
"""

import io

import pytest

from cyborg.common import progress


class Stream(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _terminal_type(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TERM", "xterm")


def _plain(**options) -> tuple[progress.Progress, Stream]:  # type: ignore[no-untyped-def]
    stream = Stream(terminal=False)
    return progress.Progress("job", stream=stream, clock=Clock(), **options), stream


def _terminal(clock: Clock, **options) -> tuple[progress.Progress, Stream]:  # type: ignore[no-untyped-def]
    stream = Stream(terminal=True)
    return progress.Progress("job", stream=stream, clock=clock, width=80, **options), stream


def test_plain_lines_every_ten_percent_and_at_the_end() -> None:
    reporter, stream = _plain(total=50)
    for k in range(50):
        reporter.advance(detail=f"item{k}")
    reporter.finish()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "job: 5/50 (10%) item4"
    assert lines[9] == "job: 50/50 (100%) item49"
    assert len(lines) == 11
    assert lines[10].startswith("job: done in ") and lines[10].endswith("s: 50/50 (100%)")


def test_plain_lines_every_step_when_asked() -> None:
    reporter, stream = _plain(total=3, line_every=1)
    reporter.phase("upgrade", total=3)
    for name in ("a", "b", "c"):
        reporter.advance(detail=name)
    assert stream.getvalue().splitlines() == [
        "job: upgrade: 3 to do",
        "job: upgrade: 1/3 (33%) a",
        "job: upgrade: 2/3 (66%) b",
        "job: upgrade: 3/3 (100%) c",
    ]


def test_an_overrun_stops_at_the_total() -> None:
    reporter, stream = _plain(total=100)
    reporter.advance(150)
    assert stream.getvalue() == "job: 100/100 (100%)\n"


def test_a_note_before_any_step_of_an_unknown_total_has_no_count() -> None:
    reporter, stream = _plain()
    reporter.phase("read")
    reporter.note("1500 nodes")
    assert stream.getvalue().splitlines() == ["job: read", "job: read: 1500 nodes"]


def test_a_note_is_a_line_between_steps() -> None:
    reporter, stream = _plain(total=2, line_every=1)
    reporter.advance(detail="first")
    reporter.note("table attributes")
    assert stream.getvalue().splitlines()[-1] == "job: 1/2 (50%) table attributes"


def test_plain_lines_of_an_unknown_total_count_items() -> None:
    reporter, stream = _plain(line_every=40)
    for _ in range(100):
        reporter.advance()
    reporter.finish()
    lines = stream.getvalue().splitlines()
    assert lines[:2] == ["job: 40", "job: 80"]
    assert lines[2].startswith("job: done in ") and lines[2].endswith("s: 100")


def test_a_stage_with_nothing_to_do_says_so() -> None:
    reporter, stream = _plain()
    reporter.phase("revisions", total=0)
    reporter.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "job: revisions: nothing to do"
    assert lines[1].startswith("job: done in ") and lines[1].endswith("s: revisions: 0")


def test_a_stage_starts_its_own_count() -> None:
    reporter, stream = _plain()
    reporter.phase("read")
    reporter.phase("search", total=1000)
    reporter.advance(250, detail="best 3.0")
    reporter.advance(250)
    assert stream.getvalue().splitlines() == [
        "job: read",
        "job: search: 1000 to do",
        "job: search: 250/1000 (25%) best 3.0",
        "job: search: 500/1000 (50%) best 3.0",
    ]


def test_the_terminal_bar_is_redrawn_in_place() -> None:
    clock = Clock()
    reporter, stream = _terminal(clock, total=4)
    reporter.advance(detail="a")
    clock.now += 1
    reporter.advance(detail="b")
    reporter.finish()
    out = stream.getvalue()
    draws = out.split("\r")[1:]
    assert draws[0] == "job [######..................] 1/4 (25%) a\x1b[K"
    assert draws[1] == "job [############............] 2/4 (50%) b\x1b[K\n"  # finished
    assert len(draws) == 2 and out.count("\n") == 1


def test_the_terminal_bar_is_throttled_by_the_clock() -> None:
    clock = Clock()
    reporter, stream = _terminal(clock, total=1000, redraw_interval=0.5)
    for _ in range(999):
        reporter.advance()  # the clock stands still: only the first draw
    assert stream.getvalue().count("\r") == 1
    clock.now += 0.5
    reporter.advance()  # the last step is always drawn
    assert stream.getvalue().count("\r") == 2
    assert "1000/1000 (100%)" in stream.getvalue()


def test_an_unknown_total_spins() -> None:
    clock = Clock()
    reporter, stream = _terminal(clock)
    seen = []
    for _ in range(3):
        clock.now += 1
        reporter.advance(detail="host")
        seen.append(stream.getvalue().split("\r")[-1])
    assert seen == ["job / 1 host\x1b[K", "job - 2 host\x1b[K", "job \\ 3 host\x1b[K"]


def test_a_new_stage_keeps_the_last_line_of_the_one_before() -> None:
    clock = Clock()
    reporter, stream = _terminal(clock)
    reporter.phase("read")
    reporter.phase("search", total=2)
    reporter.advance(2)
    assert stream.getvalue() == (
        "\rjob | read\x1b[K\n\rjob [........................] search: 0/2 (0%)\x1b[K"
        "\rjob [########################] search: 2/2 (100%)\x1b[K"
    )


def test_without_redraw_each_update_gets_its_own_line() -> None:
    clock = Clock()
    reporter, stream = _terminal(clock, total=2, redraw=False)
    reporter.advance(detail="database")
    clock.now += 1
    reporter.advance(detail="conductor")
    reporter.finish()
    assert stream.getvalue().splitlines() == [
        "job [############............] 1/2 (50%) database",
        "job [########################] 2/2 (100%) conductor",
    ]


def test_the_bar_fits_the_terminal_width() -> None:
    stream = Stream(terminal=True)
    reporter = progress.Progress("job", 1, stream=stream, width=30, clock=Clock())
    reporter.advance(detail="x" * 100)
    assert len(stream.getvalue().split("\r")[-1].removesuffix("\x1b[K")) == 29


def test_a_dumb_terminal_gets_plain_lines(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TERM", "dumb")
    stream = Stream(terminal=True)
    reporter = progress.Progress("job", 1, stream=stream, clock=Clock())
    reporter.advance()
    assert stream.getvalue() == "job: 1/1 (100%)\n"


def test_work_that_fails_says_where_it_stopped() -> None:
    reporter, stream = _plain(total=10)
    with pytest.raises(RuntimeError), reporter:
        reporter.advance(3)
        raise RuntimeError("boom")
    assert stream.getvalue().splitlines()[-1].startswith("job: stopped in ")
    assert stream.getvalue().endswith("s: 3/10 (30%)\n")


def test_a_closed_stream_does_not_stop_the_work() -> None:
    reporter, stream = _plain(total=1)
    stream.close()
    reporter.advance()
    reporter.finish()


def test_silent_reports_nothing() -> None:
    progress.SILENT.phase("x", 3)
    progress.SILENT.note("z")
    progress.SILENT.advance(2, "y")  # no stream to look at: it must simply accept
