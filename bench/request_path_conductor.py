"""cyborg-conductor under yappi, for bench/request_path.py --profile.

Runs ``cyborg.cmd.conductor.main`` with yappi on every thread (CPU clock, or
``CYBORG_BENCH_CLOCK=wall``) and writes the statistics in pstats format to
``CYBORG_BENCH_PROFILE`` when the conductor stops (SIGTERM).
"""

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import yappi

from cyborg.cmd import conductor


def main() -> int:
    yappi.set_clock_type(os.environ.get("CYBORG_BENCH_CLOCK", "cpu"))
    yappi.start(builtins=False, profile_threads=True)
    try:
        return conductor.main(sys.argv[1:])
    finally:
        yappi.stop()
        yappi.get_func_stats().save(os.environ["CYBORG_BENCH_PROFILE"], type="pstat")


if __name__ == "__main__":
    sys.exit(main())
