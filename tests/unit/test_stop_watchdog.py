"""A service stopping on SIGTERM exits in bounded time, even when something hangs."""

import os
import signal
import subprocess
import sys
import textwrap

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Stops on the signal, then hangs in a non-daemon thread the interpreter joins at exit.
HANGING_SERVICE = textwrap.dedent("""
    import sys, threading
    from cyborg.cmd import service
    service.STOP_MARGIN = 0.5
    stop = service.stop_on_signals("hanging-service", grace=0.5)
    print("ready", flush=True)
    while not stop.wait(0.1):
        pass
    threading.Thread(target=threading.Event().wait, name="never-ends").start()
    sys.exit(0)
""")


def run_and_stop(code: str) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPOSITORY, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGTERM)
    try:  # a generous deadline: the watchdog fires after one second
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("the service never exited after SIGTERM") from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_a_hung_stop_is_cut_short_with_the_stacks():
    result = run_and_stop(HANGING_SERVICE)
    assert result.returncode == 1
    assert "Thread 0x" in result.stderr and "in wait" in result.stderr


def test_a_clean_stop_is_not_cut_short():
    result = run_and_stop(HANGING_SERVICE.replace(
        'threading.Thread(target=threading.Event().wait, name="never-ends").start()', "",
    ))  # fmt: skip
    assert result.returncode == 0
    assert "Thread 0x" not in result.stderr
