"""cyborg-conductor under yappi, for bench/request_path.py --profile.

Runs ``cyborg.cmd.conductor.main`` with yappi on every thread (CPU clock, or
``CYBORG_BENCH_CLOCK=wall``) and writes the statistics in pstats format to
``CYBORG_BENCH_PROFILE`` when the conductor stops (SIGTERM). cyborg comes from
``PYTHONPATH``, which bench/request_path.py sets.
"""

import os
import sys

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
