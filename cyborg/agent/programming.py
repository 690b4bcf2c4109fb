"""Program an FPGA: download the bitstream from Glance, run the driver's tool as root.

The agent is asked (cyborg.agent.manager.fpga_program) with the device's control path,
the Glance image and the deployable's driver name. It

1. picks the enabled ProgrammableDriver that reports a device at that control path;
2. downloads ``GET /v2/images/{id}/file`` through a keystoneauth adapter built from
   the ``[glance]`` options into a private temporary file, checking the size and the
   checksums Glance gives (``Content-MD5`` or ``checksum``, ``os_hash_value``), and
   tries again ``[glance] num_retries`` times on connection errors, 5xx answers and
   corrupt transfers;
3. runs ``driver.program_command(...)`` through the privsep daemon
   (cyborg.agent.privileged) and deletes the file.

Failures are cyborg.common.exception classes with a 4xx/5xx code that cross RPC back
to the API; their messages name the device and the tool's exit status, never a file
path or the tool's output (that goes to the agent's log).
"""

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from oslo_config import cfg
from oslo_log import log
from oslo_utils import uuidutils

from cyborg.agent import drivers as agent_drivers
from cyborg.clients import glance as glance_client
from cyborg.common import exception, inventory
from cyborg.common.context import RequestContext
from cyborg.drivers.base import Driver, ProgrammableDriver, ToolRunner

LOG = log.getLogger(__name__)

CHUNK = 1024 * 1024
_RETRIED = (ks_exc.ConnectionError, ks_exc.RetriableConnectionFailure)

# One programming at a time per device (by control path).
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class _Corrupt(Exception):
    """A transfer that does not match what Glance says the image is (tried again)."""


def _hashers(image: Mapping[str, Any]) -> dict[str, Any]:
    """The hash objects to compute for ``image``: md5 always, os_hash_algo if known."""
    hashers = {"md5": hashlib.md5(usedforsecurity=False)}
    algo = image.get("os_hash_algo")
    if (
        image.get("os_hash_value")
        and isinstance(algo, str)
        and algo in hashlib.algorithms_available
    ):
        hashers["os_hash"] = hashlib.new(algo)
    return hashers


def _check(image: Mapping[str, Any], headers: Mapping[str, str], size: int, hashers: Any) -> None:
    expected_md5 = headers.get("Content-MD5") or image.get("checksum")
    if image.get("size") is not None and int(image["size"]) != size:
        raise _Corrupt(f"{size} bytes received, Glance says {image['size']}")
    if expected_md5 and hashers["md5"].hexdigest() != expected_md5.lower():
        raise _Corrupt("MD5 checksum mismatch")
    if "os_hash" in hashers and hashers["os_hash"].hexdigest() != image["os_hash_value"].lower():
        raise _Corrupt(f"{image['os_hash_algo']} checksum mismatch")


def _fetch_once(glance: ks_adapter.Adapter, image_uuid: str, out: IO[bytes]) -> None:
    image = glance.get(f"/v2/images/{image_uuid}").json()
    if image.get("status", "active") != "active":
        raise exception.ImageDownloadFailed(
            uuid=image_uuid, reason=f"the image is {image.get('status')}, not active"
        )
    out.seek(0)
    out.truncate()
    hashers = _hashers(image)
    size = 0
    response = glance.get(f"/v2/images/{image_uuid}/file", stream=True)
    try:
        if response.status_code == 204:
            raise exception.ImageDownloadFailed(uuid=image_uuid, reason="the image has no data")
        for chunk in response.iter_content(CHUNK):
            out.write(chunk)
            size += len(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
    finally:
        response.close()
    out.flush()
    _check(image, response.headers, size, hashers)


def download(
    glance: ks_adapter.Adapter, image_uuid: str, out: IO[bytes], num_retries: int = 0
) -> None:
    """Write image ``image_uuid`` to ``out``, trying ``num_retries`` more times."""
    for attempt in range(num_retries + 1):
        last = attempt == num_retries
        try:
            _fetch_once(glance, image_uuid, out)
            return
        except ks_exc.NotFound as err:
            raise exception.ImageNotFound(uuid=image_uuid) from err
        except (ks_exc.EndpointNotFound, ks_exc.MissingAuthPlugin) as err:
            raise exception.ImageDownloadFailed(
                uuid=image_uuid,
                reason="no Image service endpoint: set [glance] endpoint_override or "
                "an auth plugin in [glance] on the agent",
            ) from err
        except ks_exc.HttpError as err:
            if last or not isinstance(err, ks_exc.HttpServerError):
                raise exception.ImageDownloadFailed(
                    uuid=image_uuid, reason=f"Glance answered {err.http_status}"
                ) from err
            LOG.warning("Glance answered %s for image %s; retrying", err.http_status, image_uuid)
        except (*_RETRIED, _Corrupt, OSError) as err:
            if last:
                reason = str(err) if isinstance(err, _Corrupt) else type(err).__name__
                raise exception.ImageDownloadFailed(uuid=image_uuid, reason=reason) from err
            LOG.warning("Downloading image %s failed (%s); retrying", image_uuid, err)


def _parse_controlpath(controlpath_id: Mapping[str, Any] | str) -> dict[str, str]:
    """The PCI address dict of a control path row (``cpid_info`` JSON) or of that JSON."""
    info: Any = controlpath_id
    if isinstance(info, Mapping) and "cpid_info" in info:
        info = info["cpid_info"]
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except ValueError:
            info = None
    if not isinstance(info, Mapping) or not all(isinstance(v, str) for v in info.values()):
        raise exception.Invalid(reason="the control path is not a PCI address")
    return dict(info)


def address(controlpath: Mapping[str, str]) -> str:
    """{"domain": "0000", "bus": "5e", ...} -> '0000:5e:00.0' (for messages)."""
    parts = [controlpath.get(k, "?") for k in ("domain", "bus", "device", "function")]
    return f"{parts[0]}:{parts[1]}:{parts[2]}.{parts[3]}"


def leaves(drivers: Iterable[Driver]) -> Iterator[Driver]:
    for driver in drivers:
        if isinstance(driver, agent_drivers.FirstThatFinds):
            yield from leaves(driver.in_use())
        else:
            yield driver


def find_driver(
    drivers: Iterable[Driver], controlpath: Mapping[str, str]
) -> ProgrammableDriver | None:
    """The programmable driver that reports a device at ``controlpath``, if any."""
    wanted = inventory.canonical_json(controlpath)
    for driver in leaves(drivers):
        if not isinstance(driver, ProgrammableDriver):
            continue
        if any(device.controlpath == wanted for device in driver.discover()):
            return driver
    return None


def _lock(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def _run_privileged(argv: list[str], timeout: int) -> dict[str, Any]:
    # oslo.privsep (which imports eventlet) is loaded when a tool first runs, not
    # when the agent starts.
    from cyborg.agent import privileged

    return privileged.run_programming_tool(argv, timeout)


class Programmer:
    """Everything fpga_program needs, so that tests can give their own tool runner."""

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        drivers: Iterable[Driver],
        hostname: str,
        run_tool: ToolRunner | None = None,
    ) -> None:
        self.conf = conf
        self.drivers = list(drivers)
        self.hostname = hostname
        self.run_tool = run_tool or _run_privileged

    def program(
        self,
        context: RequestContext,
        controlpath_id: Mapping[str, Any] | str,
        bitstream_uuid: str,
        driver_name: str | None = None,
    ) -> bool:
        """Program the device at ``controlpath_id`` with image ``bitstream_uuid``."""
        deadline = time.monotonic() + self.conf.agent.program_timeout
        if not uuidutils.is_uuid_like(bitstream_uuid):  # it ends up in a URL and a file name
            raise exception.InvalidParameterValue(name="bitstream_uuid", reason="not a UUID")
        controlpath = _parse_controlpath(controlpath_id)
        where = address(controlpath)
        driver = self._driver(controlpath, driver_name)
        with (
            _lock(inventory.canonical_json(controlpath)),
            # Private (0600), deleted on leaving the block whatever happens.
            tempfile.NamedTemporaryFile(prefix=f"cyborg-{bitstream_uuid}-", suffix=".bin") as f,
        ):
            glance = glance_client.adapter(self.conf, context)
            download(glance, bitstream_uuid, f, self.conf.glance.num_retries)
            argv = driver.program_command(controlpath, f.name)
            left = int(deadline - time.monotonic())
            if left < 1:
                raise exception.FPGAProgramError(
                    address=where,
                    host=self.hostname,
                    reason="the image download used up [agent] program_timeout",
                )
            self._run(driver, argv, left, where)
        LOG.info("Programmed %s with image %s using %s", where, bitstream_uuid, driver.name)
        return True

    def program_file(self, controlpath_id: Mapping[str, Any] | str, path: str) -> bool:
        """Program the device at ``controlpath_id`` with the local bitstream ``path``
        (the caller has checked the operator allows it)."""
        controlpath = _parse_controlpath(controlpath_id)
        where = address(controlpath)
        driver = self._driver(controlpath, None)
        with _lock(inventory.canonical_json(controlpath)):
            argv = driver.program_command(controlpath, path)
            self._run(driver, argv, self.conf.agent.program_timeout, where)
        LOG.info("Programmed %s with %s using %s", where, os.path.basename(path), driver.name)
        return True

    def _driver(
        self, controlpath: Mapping[str, str], driver_name: str | None
    ) -> ProgrammableDriver:
        driver = find_driver(self.drivers, controlpath)
        if driver is None:
            raise exception.FPGAProgramError(
                address=address(controlpath),
                host=self.hostname,
                reason=f"no enabled programmable driver (deployable driver "
                f"{driver_name or 'unknown'}) reports a device there",
            )
        return driver

    def _run(self, driver: ProgrammableDriver, argv: list[str], timeout: int, where: str) -> None:
        tool = os.path.basename(argv[0])
        run_tool = driver.tool_runner() or self.run_tool

        def failed(reason: str) -> exception.FPGAProgramError:
            return exception.FPGAProgramError(address=where, host=self.hostname, reason=reason)

        try:
            result = run_tool(argv, timeout)
        except Exception as err:
            LOG.exception("The privileged helper could not run %s", tool)
            raise failed("the privileged helper failed; see the agent's log") from err
        if result.get("exit_code") == 0:
            return
        LOG.error(
            "%s for %s: exit status %s, timed out %s; stdout: %s; stderr: %s",
            tool,
            where,
            result.get("exit_code"),
            result.get("timed_out"),
            result.get("stdout"),
            result.get("stderr"),
        )
        if result.get("timed_out"):
            raise failed(f"{tool} did not finish within {timeout} seconds")
        if result.get("not_started"):
            raise failed(f"{tool} could not be started ({result['not_started']})")
        raise failed(f"{tool} exited with status {result.get('exit_code')}")
