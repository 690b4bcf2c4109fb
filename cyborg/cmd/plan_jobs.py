"""cyborg-plan jobs: cluster-scheduling jobs through Cyborg's REST API (microversion 2.9).

cyborg-plan jobs [--os-* options] submit (--graph UUID | --job-type NAME)
                 --devices N|MIN-MAX [--throughput MODEL=RATE ...] [--priority P]
                 [--weight W] [--name NAME]
cyborg-plan jobs [--os-* options] list [--state STATE] [--project-id ID] [--limit N]
cyborg-plan jobs [--os-* options] show UUID
cyborg-plan jobs [--os-* options] cancel UUID

Unlike the rest of cyborg-plan, which plans offline, these call the API. Credentials
are keystoneauth's, as the OpenStack clients take them: ``--os-auth-url``,
``--os-username``, ``--os-project-name``, ... (``--os-auth-type`` ``token``,
``admin_token``, ``none``, ...) or the ``OS_*`` environment. The API is found in
the catalog as service type ``accelerator``, or named with ``--os-endpoint-override``
(the API root, e.g. ``http://controller/accelerator``). Prints the job (or the list)
as JSON or YAML; exits 1 with the API's message when it refuses a request, 2 on bad
arguments.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import yaml
from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading

from cyborg.common import constants

SERVICE_TYPE = "accelerator"
MICROVERSION = "2.9"  # cyborg.api.microversion.JOBS
# Pages one ``list`` follows at most (each of up to [api] max_limit jobs).
MAX_PAGES = 100


class CommandError(Exception):
    """The API refused a request: its message."""


def _devices(text: str) -> dict[str, int]:
    """``4`` or ``2-8`` as the API's ``devices``."""
    low, sep, high = text.partition("-")
    try:
        devices = {"min": int(low), "max": int(high if sep else low)}
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: give N or MIN-MAX") from err
    return devices


def _throughput(text: str) -> tuple[str, float]:
    model, sep, rate = text.rpartition("=")
    try:
        if not sep or not model:
            raise ValueError(text)
        return model, float(rate)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: give MODEL=RATE") from err


def parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="cyborg-plan jobs",
        description="Queue, list, show and cancel cluster-scheduling jobs through "
        "Cyborg's API (microversion 2.9).",
    )
    ks_loading.register_session_argparse_arguments(top)
    ks_loading.register_auth_argparse_arguments(top, list(argv), default="password")
    ks_loading.register_adapter_argparse_arguments(top, service_type=SERVICE_TYPE)
    top.add_argument("--format", choices=("json", "yaml"), default="json")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    submit = commands.add_parser("submit", help="queue a job")
    what = submit.add_mutually_exclusive_group(required=True)
    what.add_argument("--graph", metavar="UUID", help="a graph of the project")
    what.add_argument("--job-type", metavar="NAME", help="a job type")
    submit.add_argument(
        "--devices", type=_devices, required=True, metavar="N|MIN-MAX", help="gang size or range"
    )
    submit.add_argument(
        "--throughput",
        type=_throughput,
        action="append",
        default=[],
        metavar="MODEL=RATE",
        help="measured work units per second of one gang on MODEL (repeatable)",
    )
    submit.add_argument("--priority", type=int, help="0 to 1000; higher runs first")
    submit.add_argument("--weight", type=float, help="its share in fairness policies")
    submit.add_argument("--name")

    listing = commands.add_parser("list", help="list jobs (every page)")
    listing.add_argument("--state", choices=constants.values(constants.JobState))
    listing.add_argument("--project-id", help="administrators: one project's jobs")
    listing.add_argument("--limit", type=int, help="jobs per page")

    for name, text in (("show", "show a job"), ("cancel", "cancel a queued or allocated job")):
        command = commands.add_parser(name, help=text)
        command.add_argument("uuid", metavar="UUID")
    return top


def submit_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"devices": args.devices}
    if args.graph is not None:
        body["graph_uuid"] = args.graph
    else:
        body["job_type"] = args.job_type
    if args.throughput:
        body["throughputs"] = dict(args.throughput)
    for key in ("priority", "weight", "name"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    return body


def _adapter(args: argparse.Namespace) -> ks_adapter.Adapter:
    auth = ks_loading.load_auth_from_argparse_arguments(args)
    session = ks_loading.load_session_from_argparse_arguments(args, auth=auth)
    return ks_adapter.Adapter(
        session,
        service_type=SERVICE_TYPE,
        interface=args.os_interface,
        region_name=args.os_region_name,
        endpoint_override=args.os_endpoint_override,
        default_microversion=MICROVERSION,
    )


def _fault(response: Any) -> str:
    """The API's own message (upstream's envelope: a JSON string of a fault)."""
    try:
        fault = json.loads(response.json()["error_message"])
        return str(fault["faultstring"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500]


def _call(api: ks_adapter.Adapter, method: str, path: str, **kwargs: Any) -> Any:
    response = api.request(path, method, raise_exc=False, **kwargs)
    if response.status_code >= 400:
        raise CommandError(f"{method} {path}: {response.status_code}: {_fault(response)}")
    return response.json() if response.content else None


def run(api: ks_adapter.Adapter, args: argparse.Namespace) -> Any:
    if args.command == "submit":
        return _call(api, "POST", "/v2/jobs", json=submit_body(args))
    if args.command == "show":
        return _call(api, "GET", f"/v2/jobs/{args.uuid}")
    if args.command == "cancel":
        _call(api, "DELETE", f"/v2/jobs/{args.uuid}")
        return {"uuid": args.uuid, "state": constants.JobState.CANCELLED.value}
    query = {
        key: value
        for key, value in (
            ("state", args.state),
            ("project_id", args.project_id),
            ("limit", args.limit),
        )
        if value is not None
    }
    page = _call(api, "GET", "/v2/jobs", params=query)
    jobs = list(page["jobs"])
    for _ in range(MAX_PAGES - 1):
        if "next" not in page:
            break
        page = _call(api, "GET", page["next"])  # an absolute URL: keystoneauth keeps it
        jobs += page["jobs"]
    return {"jobs": jobs}


def main(argv: Sequence[str]) -> int:
    args = parser(argv).parse_args(list(argv))
    try:
        result = run(_adapter(args), args)
    except CommandError as err:
        print(f"cyborg-plan jobs: {err}", file=sys.stderr)
        return 1
    except ks_exc.ClientException as err:
        print(f"cyborg-plan jobs: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    if args.format == "json":
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        yaml.safe_dump(result, sys.stdout, sort_keys=False)
    return 0
