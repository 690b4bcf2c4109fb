"""What the all-in-one prints: its endpoints and commands to try, runnable as shown.

The commands name the ``openstack`` client installed beside cyborg-aio (the
README's ``.venv/bin``), the host name the all-in-one's agent registered, and the
provider of a device it reported, so that they can be pasted as they are.
"""

import json
import os
import shlex
import sys

from cyborg.cmd import aio_fpga
from cyborg.common.context import RequestContext
from cyborg.drivers import intel_fpga
from cyborg.objects import deployable as deployable_obj
from cyborg.wsgi import embedded_placement

PROFILE = "gpu"
PROFILE_GROUPS = '[{"resources:PGPU": "1"}]'


def openstack() -> str:
    """The ``openstack`` beside this Python (the same virtualenv), else from PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "openstack")
    return shlex.quote(beside) if os.access(beside, os.X_OK) else "openstack"


def usage(root: str) -> str:
    endpoint = f"{root}/v2"
    placement = f"{root}{embedded_placement.PREFIX}"
    cli = openstack()
    return "\n".join(
        [
            f"cyborg-aio: API ready at {endpoint} (no authentication; Ctrl-C stops it)",
            f"cyborg-aio: Placement at {placement} (token {embedded_placement.ADMIN_TOKEN})",
            "Try, in another shell:",
            f"  export OS_AUTH_TYPE=none OS_ENDPOINT={endpoint}",
            f"  {cli} accelerator device list --long",
            f"  {cli} accelerator device profile create {PROFILE} '{PROFILE_GROUPS}'",
            f"  {cli} accelerator device profile list",
            f"  {cli} accelerator arq create {PROFILE}",
            f"  {cli} accelerator arq list",
            f"  {cli} accelerator deployable list",
            "The devices' resource providers in the embedded Placement:",
            f"  {cli} --os-auth-type admin_token --os-token {embedded_placement.ADMIN_TOKEN} "
            f"--os-endpoint {placement} --os-placement-api-version 1.39 "
            "resource provider list",
        ]
    )


def _gpu_provider(context: RequestContext, hostname: str) -> str | None:
    """The provider of a reported deployable of class PGPU (what ``gpu`` asks for)."""
    for deployable in deployable_obj.get_all(context, hostname=hostname):
        rc = {a.key: a.value for a in deployable.attributes}.get("rc")
        if deployable.rp_uuid and rc == "PGPU":
            return deployable.rp_uuid
    return None


def bind_hint(context: RequestContext, hostname: str) -> str | None:
    """Commands that create an ARQ of the ``gpu`` profile and bind it to a GPU the
    agent reported, as Nova would (after the profile command of ``usage``); None
    while no GPU is in Placement."""
    rp_uuid = _gpu_provider(context, hostname)
    if rp_uuid is None:
        return None
    cli = openstack()
    instance = "$(python3 -c 'import uuid; print(uuid.uuid4())')"
    return "\n".join(
        [
            f"cyborg-aio: the agent reported as host {hostname}. Bind an ARQ to its GPU "
            f"(provider {rp_uuid}) as Nova would:",
            f"  ARQ=$({cli} accelerator arq create {PROFILE} -f value -c uuid)",
            f'  {cli} accelerator arq bind "$ARQ" {shlex.quote(hostname)} {instance} '
            f"{rp_uuid} admin",
            f'  {cli} accelerator arq show "$ARQ" -c state -c attach_handle_type',
        ]
    )


def program_hint(context: RequestContext, root: str, hostname: str) -> str | None:
    """A command that programs the simulated (or a real Intel) FPGA the agent
    reported with the embedded bitstream it does not hold yet; None while none is
    reported. REST, because ``openstack accelerator deployable program`` loops
    forever in openstacksdk 4.22."""
    for deployable in deployable_obj.get_all(context, hostname=hostname):
        if deployable.driver_name == intel_fpga.DRIVER_NAME:
            break
    else:
        return None
    held = deployable.bitstream_id
    bitstream = next(b for b in aio_fpga.BITSTREAMS if b.image_uuid != held)
    body = [{"op": "replace", "path": "/program", "value": [{"image_uuid": bitstream.image_uuid}]}]
    url = f"{root}/v2/deployables/{deployable.uuid}/program"
    return "\n".join(
        [
            f"cyborg-aio: program its FPGA (deployable {deployable.uuid}) with the "
            f"{bitstream.name} bitstream of the embedded Image API:",
            f"  curl -sS --fail-with-body -X PATCH -H 'Content-Type: application/json' "
            f"-d {shlex.quote(json.dumps(body))} {url}",
        ]
    )
