"""The OpenAPI document in doc/ is what the server serves."""

import subprocess
import sys


def test_doc_copy_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "tools/generate-openapi.py", "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
