#!/usr/bin/env python3
"""Regenerate etc/cyborg/cyborg.conf.sample, or check that it is current.

    tools/generate-config-sample.py [--output-file PATH] [--check]

This runs oslo-config-generator's own code with etc/cyborg/cyborg-config-generator.conf.
The generator finds option namespaces through ``oslo.config.opts`` entry points. When
this checkout is not installed, Cyborg's entry points (read from pyproject.toml) are
declared in a throw-away distribution put on sys.path for the run, so the script works
with or without ``pip install -e .``. The options of this checkout are used either way.
"""

import argparse
import contextlib
import difflib
import importlib.metadata
import io
import pathlib
import sys
import tempfile
import tomllib
import warnings
from collections.abc import Iterator

from oslo_config import cfg, generator

REPO = pathlib.Path(__file__).resolve().parent.parent
GENERATOR_CONF = REPO / "etc" / "cyborg" / "cyborg-config-generator.conf"
SAMPLE = REPO / "etc" / "cyborg" / "cyborg.conf.sample"
OPTS_GROUP = "oslo.config.opts"
ENTRY_POINT_GROUPS = (OPTS_GROUP, "oslo.config.opts.defaults")
COMMAND = "tools/generate-config-sample.py"

EntryPoints = dict[str, dict[str, str]]


def declared_entry_points() -> EntryPoints:
    """The generator-related entry points pyproject.toml declares, by group."""
    with (REPO / "pyproject.toml").open("rb") as f:
        declared = tomllib.load(f)["project"].get("entry-points", {})
    return {group: dict(declared[group]) for group in ENTRY_POINT_GROUPS if group in declared}


def missing_entry_points(wanted: EntryPoints) -> EntryPoints:
    """The entry points of ``wanted`` that no installed distribution provides."""
    missing: EntryPoints = {}
    for group, names in wanted.items():
        installed = {ep.name for ep in importlib.metadata.entry_points(group=group)}
        left = {name: target for name, target in names.items() if name not in installed}
        if left:
            missing[group] = left
    return missing


@contextlib.contextmanager
def entry_points_on_path(entry_points: EntryPoints) -> Iterator[None]:
    """Make ``entry_points`` visible to importlib.metadata, hence to stevedore."""
    if not entry_points:
        yield
        return
    with tempfile.TemporaryDirectory() as tmp:
        dist_info = pathlib.Path(tmp) / "cyborg_config_sample-0.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: cyborg-config-sample\nVersion: 0\n"
        )
        lines = []
        for group, names in entry_points.items():
            lines.append(f"[{group}]")
            lines.extend(f"{name} = {target}" for name, target in names.items())
        (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        sys.path.append(tmp)
        try:
            yield
        finally:
            sys.path.remove(tmp)


def generate() -> str:
    """Return the sample the generator writes for our generator config file."""
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    # No default config files and no environment: only the generator config counts.
    conf(
        ["--config-file", str(GENERATOR_CONF)],
        default_config_files=[],
        default_config_dirs=[],
        use_env=False,
    )
    # Importing the libraries warns about eventlet (oslo.messaging pulls it in); that
    # says nothing about the sample and would bury a --check diff.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    with entry_points_on_path(missing_entry_points(declared_entry_points())):
        unknown = missing_entry_points({OPTS_GROUP: dict.fromkeys(conf.namespace, "")})
        if unknown:
            names = ", ".join(sorted(unknown[OPTS_GROUP]))
            raise SystemExit(f"{GENERATOR_CONF.name}: no such namespace: {names}")
        buf = io.StringIO()
        generator.generate(conf, output_file=buf)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output-file",
        type=pathlib.Path,
        default=SAMPLE,
        help="where to write the sample (default: %(default)s)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a diff if the file at --output-file is stale",
    )
    args = parser.parse_args(argv)
    # Import our options from this checkout even when run from elsewhere.
    sys.path.insert(0, str(REPO))
    fresh = generate()
    if not args.check:
        args.output_file.write_text(fresh)
        return 0
    current = args.output_file.read_text() if args.output_file.exists() else ""
    if current == fresh:
        return 0
    sys.stderr.writelines(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            fresh.splitlines(keepends=True),
            fromfile=str(args.output_file),
            tofile="generated",
        )
    )
    print(f"\n{args.output_file} is stale; run {COMMAND} to regenerate it.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
