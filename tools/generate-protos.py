#!/usr/bin/env python3
"""Compile cyborg/kubernetes/protos/*.proto into Python gRPC stubs, beside the protos.

    tools/generate-protos.py [--check]

The stubs (``*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py``) are not committed: they
depend on the grpcio-tools release (pinned in upper-constraints.txt) and are made at
install time (tools/ensure-venv.sh runs this after every install; devstack after
``setup_develop``). Only files whose text changed are rewritten, so a second run costs
one protoc call and no write. ``--check`` writes nothing and exits 1 when a stub is
missing or out of date (tests/unit/kubernetes/test_protos.py runs it).

Run it with the Python of the virtualenv Cyborg is installed in: grpcio-tools must be
importable there.
"""

import argparse
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "cyborg" / "kubernetes" / "protos"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def compile_into(out: pathlib.Path) -> dict[str, str]:
    """Run protoc on every proto; {stub file name: its text}."""
    from grpc_tools import protoc  # type: ignore[import-untyped]

    protos = sorted(PROTOS.glob("*.proto"))
    relative = [str(p.relative_to(ROOT)) for p in protos]
    args = [
        "grpc_tools.protoc",
        f"--proto_path={ROOT}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *relative,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("generate-protos: protoc failed (its message is above)")
    made = out / PROTOS.relative_to(ROOT)
    return {p.name: p.read_text() for p in sorted(made.iterdir()) if p.name.endswith(SUFFIXES)}


def stale(wanted: dict[str, str]) -> list[str]:
    """Stub names whose file is missing or differs, and stubs no proto makes any more."""
    differing = [
        name
        for name, text in wanted.items()
        if not (PROTOS / name).is_file() or (PROTOS / name).read_text() != text
    ]
    leftover = [
        p.name for p in PROTOS.iterdir() if p.name.endswith(SUFFIXES) and p.name not in wanted
    ]
    return sorted(differing + leftover)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wanted = compile_into(pathlib.Path(tmp))
    changed = stale(wanted)
    if args.check:
        for name in changed:
            print(f"generate-protos: {name} is missing or out of date", file=sys.stderr)
        return 1 if changed else 0
    for name in changed:
        path = PROTOS / name
        if name in wanted:
            path.write_text(wanted[name])
        else:
            path.unlink()
    if changed:
        print(f"generate-protos: wrote {len(changed)} stubs in {PROTOS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
