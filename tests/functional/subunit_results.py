"""Print the results of a subunit v2 stream on stdin as JSON lines.

Run by the tempest virtual environment's Python (tests/functional/tempest_suite.py):
python-subunit and testtools live there, not in Cyborg's. One line per test:
``{"id": ..., "status": "success" | "fail" | "skip" | ..., "details": "<text>"}``,
the details being the traceback of a failure or the reason of a skip.
"""

import json
import sys
from typing import Any

import subunit
import testtools


def _print(test: dict[str, Any]) -> None:
    details = "\n".join(content.as_text() for content in test["details"].values())
    print(json.dumps({"id": test["id"], "status": test["status"], "details": details}))


def main() -> None:
    stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout")
    result = testtools.StreamToDict(_print)
    result.startTestRun()
    try:
        stream.run(result)
    finally:
        result.stopTestRun()


if __name__ == "__main__":
    main()
