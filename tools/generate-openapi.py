#!/usr/bin/env python3
"""Write doc/source/api/openapi.json from cyborg.api.openapi (or --check it is current)."""

import argparse
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cyborg.api import openapi  # noqa: E402

TARGET = REPO / "doc" / "source" / "api" / "openapi.json"


def render() -> str:
    return json.dumps(openapi.document(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run tools/generate-openapi.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
