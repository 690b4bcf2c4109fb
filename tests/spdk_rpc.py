"""A stand-in SPDK application: a real unix-socket JSON-RPC 2.0 server that answers
each method with recorded response bytes (tests/fixtures/spdk)."""

import contextlib
import json
import pathlib
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import oslo_messaging
from oslo_messaging.rpc import dispatcher as rpc_dispatcher

from cyborg.agent import manager as agent_manager
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.common import inventory
from cyborg.drivers import spdk

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "spdk"
SUBSYSTEMS = (FIXTURES / "nvmf_get_subsystems.json").read_bytes()
BDEVS = (FIXTURES / "bdev_get_bdevs.json").read_bytes()
CONTROLLERS = (FIXTURES / "vhost_get_controllers.json").read_bytes()
NOT_FOUND = (FIXTURES / "error_method_not_found.json").read_bytes()
RECORDED = {
    "nvmf_get_subsystems": SUBSYSTEMS,
    "bdev_get_bdevs": BDEVS,
    "vhost_get_controllers": CONTROLLERS,
}


class _Handler(socketserver.BaseRequestHandler):
    """Reads JSON-RPC requests and sends each the server's answer, in pieces as a real
    socket may."""

    server: "FakeSPDK"

    def handle(self) -> None:
        decoder = json.JSONDecoder()
        buffer = ""
        while True:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            buffer += chunk.decode()
            try:
                request, end = decoder.raw_decode(buffer)
            except ValueError:
                continue
            buffer = buffer[end:].lstrip()
            reply = self.server.reply(request["method"], request.get("params") or {})
            for start in range(0, len(reply), 100):
                self.request.sendall(reply[start : start + 100])
            if self.server.close_after_reply:
                return


class FakeSPDK(socketserver.ThreadingUnixStreamServer):
    """Answers each method with its recorded bytes (Method not found for the others)."""

    daemon_threads = True

    def __init__(
        self, path: str, responses: dict[str, bytes], close_after_reply: bool = False
    ) -> None:
        self.responses = responses
        self.close_after_reply = close_after_reply
        self.methods: list[str] = []
        super().__init__(path, _Handler)

    def reply(self, method: str, params: dict[str, Any]) -> bytes:
        self.methods.append(method)
        return self.responses.get(method, NOT_FOUND)


@contextlib.contextmanager
def _running(server: "FakeSPDK") -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _socket(root: pathlib.Path) -> str:
    (root / "var" / "tmp").mkdir(parents=True, exist_ok=True)
    return str(root / spdk.DEFAULT_SOCKET)


@contextlib.contextmanager
def serving(
    root: pathlib.Path,
    responses: dict[str, bytes] | None = None,
    close_after_reply: bool = False,
) -> Iterator[FakeSPDK]:
    """A stand-in SPDK at <root>/var/tmp/spdk.sock replaying recorded answers."""
    server = FakeSPDK(
        _socket(root), RECORDED if responses is None else responses, close_after_reply
    )
    with _running(server):
        yield server


def _recorded(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_bytes())
    return loaded


class TargetState:
    """What an SPDK application holds, changed by the target methods as SPDK changes it.

    Starts from the recorded listings; every answer is a recorded response object
    (tests/fixtures/spdk), with ``result`` filled from the state for the listings.
    ``fail`` makes a method answer the named recorded error instead (once per entry).
    """

    def __init__(self) -> None:
        self.subsystems: list[dict[str, Any]] = _recorded("nvmf_get_subsystems")["result"]
        self.controllers: list[dict[str, Any]] = _recorded("vhost_get_controllers")["result"]
        self.bdevs: list[dict[str, Any]] = _recorded("bdev_get_bdevs")["result"]
        self.transports: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    def answer(self, method: str, params: dict[str, Any]) -> bytes:
        with self.lock:
            self.calls.append((method, params))
            if self.fail.get(method):
                return json.dumps(_recorded(self.fail[method].pop(0))).encode()
            handler = getattr(self, "_" + method, None)
            reply = handler(params) if handler else _recorded("error_method_not_found")
            return json.dumps(reply).encode()

    def _listing(self, name: str, result: Any) -> dict[str, Any]:
        return {**_recorded(name), "result": result}

    def _bdev(self, name: Any) -> dict[str, Any] | None:
        return next((b for b in self.bdevs if b["name"] == name), None)

    def _subsystem(self, nqn: Any) -> dict[str, Any] | None:
        return next((s for s in self.subsystems if s["nqn"] == nqn), None)

    def _controller(self, ctrlr: Any) -> dict[str, Any] | None:
        return next((c for c in self.controllers if c["ctrlr"] == ctrlr), None)

    # -- the methods, as SPDK answers them ---------------------------------------------

    def _bdev_get_bdevs(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._listing("bdev_get_bdevs", self.bdevs)

    def _nvmf_get_transports(self, params: dict[str, Any]) -> dict[str, Any]:
        template = _recorded("nvmf_get_transports")["result"][0]
        return self._listing(
            "nvmf_get_transports", [{**template, "trtype": t["trtype"]} for t in self.transports]
        )

    def _nvmf_create_transport(self, params: dict[str, Any]) -> dict[str, Any]:
        trtype = str(params.get("trtype", "")).upper()
        if any(t["trtype"] == trtype for t in self.transports):
            error = _recorded("error_transport_exists")
            error["error"]["message"] = f"Transport type '{trtype}' already exists"
            return error
        self.transports.append({"trtype": trtype})
        return _recorded("result_true")

    def _nvmf_get_subsystems(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._listing("nvmf_get_subsystems", self.subsystems)

    def _nvmf_create_subsystem(self, params: dict[str, Any]) -> dict[str, Any]:
        nqn = params.get("nqn")
        if not isinstance(nqn, str) or self._subsystem(nqn) is not None:
            error = _recorded("error_create_subsystem")
            error["error"]["message"] = f"Unable to create subsystem {nqn}"
            return error
        self.subsystems.append(
            {
                "nqn": nqn,
                "subtype": "NVMe",
                "listen_addresses": [],
                "allow_any_host": bool(params.get("allow_any_host", False)),
                "hosts": [],
                "serial_number": params.get("serial_number", "00000000000000000000"),
                "model_number": params.get("model_number", "SPDK bdev Controller"),
                "max_namespaces": 32,
                "min_cntlid": 1,
                "max_cntlid": 65519,
                "namespaces": [],
            }
        )
        return _recorded("result_true")

    def _nvmf_subsystem_add_ns(self, params: dict[str, Any]) -> dict[str, Any]:
        subsystem = self._subsystem(params.get("nqn"))
        namespace = params.get("namespace") or {}
        bdev = self._bdev(namespace.get("bdev_name"))
        if subsystem is None or bdev is None or bdev["claimed"]:
            return _recorded("error_invalid_params")
        bdev["claimed"] = True
        nsid = len(subsystem["namespaces"]) + 1
        subsystem["namespaces"].append(
            {"nsid": nsid, "bdev_name": bdev["name"], "name": bdev["name"], "uuid": bdev["uuid"]}
        )
        return {**_recorded("nvmf_subsystem_add_ns"), "result": nsid}

    def _nvmf_subsystem_add_listener(self, params: dict[str, Any]) -> dict[str, Any]:
        subsystem = self._subsystem(params.get("nqn"))
        address = dict(params.get("listen_address") or {})
        trtype = str(address.get("trtype", "")).upper()
        if subsystem is None or not any(t["trtype"] == trtype for t in self.transports):
            return _recorded("error_invalid_params")
        address["trtype"] = trtype
        subsystem["listen_addresses"].append(address)
        return _recorded("result_true")

    def _nvmf_delete_subsystem(self, params: dict[str, Any]) -> dict[str, Any]:
        subsystem = self._subsystem(params.get("nqn"))
        if subsystem is None:
            return _recorded("error_invalid_params")
        for namespace in subsystem["namespaces"]:
            bdev = self._bdev(namespace["bdev_name"])
            if bdev is not None:
                bdev["claimed"] = False
        self.subsystems.remove(subsystem)
        return _recorded("result_true")

    def _vhost_get_controllers(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._listing("vhost_get_controllers", self.controllers)

    def _vhost_create_blk_controller(self, params: dict[str, Any]) -> dict[str, Any]:
        ctrlr, bdev = params.get("ctrlr"), self._bdev(params.get("dev_name"))
        if self._controller(ctrlr) is not None:
            return _recorded("error_file_exists")
        if bdev is None:
            return _recorded("error_no_such_device")
        if bdev["claimed"]:
            return _recorded("error_invalid_params")
        bdev["claimed"] = True
        self.controllers.append(
            {
                "ctrlr": ctrlr,
                "cpumask": "0x1",
                "delay_base_us": 0,
                "iops_threshold": 60000,
                "socket": f"/var/tmp/{ctrlr}",
                "sessions": [],
                "backend_specific": {
                    "block": {
                        "readonly": False,
                        "bdev": bdev["name"],
                        "transport": "vhost_user_blk",
                    }
                },
            }
        )
        return _recorded("result_true")

    def _vhost_delete_controller(self, params: dict[str, Any]) -> dict[str, Any]:
        controller = self._controller(params.get("ctrlr"))
        if controller is None:
            return _recorded("error_no_such_device")
        bdev = self._bdev(controller["backend_specific"].get("block", {}).get("bdev"))
        if bdev is not None:
            bdev["claimed"] = False
        self.controllers.remove(controller)
        return _recorded("result_true")


class StatefulSPDK(FakeSPDK):
    """Answers as ``state`` says, which the calls change."""

    def __init__(self, path: str, state: TargetState) -> None:
        self.state = state
        super().__init__(path, {})

    def reply(self, method: str, params: dict[str, Any]) -> bytes:
        return self.state.answer(method, params)


@contextlib.contextmanager
def serving_targets(root: pathlib.Path, state: TargetState) -> Iterator[StatefulSPDK]:
    """A stand-in SPDK at <root>/var/tmp/spdk.sock whose targets change with the calls."""
    server = StatefulSPDK(_socket(root), state)
    with _running(server):
        yield server


class LocalAgent:
    """AgentAPI's SPDK calls, made on a real AgentManager in this process (instead of
    over RabbitMQ) for the agent of ``hostname``; ``down`` makes them time out as an
    agent that does not answer would."""

    def __init__(self, manager: agent_manager.AgentManager, hostname: str) -> None:
        self.manager = manager
        self.hostname = hostname
        self.down = False
        self.calls: list[str] = []

    def _call(self, method: str, context: Any, hostname: str, **kwargs: str) -> None:
        assert hostname == self.hostname, f"{method} sent to {hostname}"
        self.calls.append(method)
        if self.down:
            raise oslo_messaging.MessagingTimeout("no answer")
        try:
            getattr(self.manager, method)(context, **kwargs)
        except rpc_dispatcher.ExpectedException as wrapped:  # as the RPC client would see it
            raise wrapped.exc_info[1] from None

    def create_spdk_target(self, context: Any, hostname: str, **kwargs: str) -> None:
        self._call("create_spdk_target", context, hostname, **kwargs)

    def remove_spdk_target(self, context: Any, hostname: str, **kwargs: str) -> None:
        self._call("remove_spdk_target", context, hostname, **kwargs)


@contextlib.contextmanager
def storage_host(
    conf: Any,
    hostname: str,
    state: TargetState,
    report: Callable[[list[inventory.DeviceReport]], None],
) -> Iterator[LocalAgent]:
    """A host whose nvmf and vhost drivers ask a stand-in SPDK over ``state`` (with the
    export options set on ``conf``): their devices go to ``report``, then the host's
    agent is yielded."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="cy-spdk-", dir="/tmp"))  # short socket path
    try:
        with serving_targets(root, state):
            drivers = [
                spdk.NVMfSPDKDriver(conf, root=str(root), hostname=hostname),
                spdk.VhostSPDKDriver(conf, root=str(root), hostname=hostname),
            ]
            report([d for driver in drivers for d in driver.discover()])
            tracker = ResourceTracker(hostname, drivers, conductor=None)
            yield LocalAgent(agent_manager.AgentManager(tracker, conf), hostname)
    finally:
        shutil.rmtree(root, ignore_errors=True)
