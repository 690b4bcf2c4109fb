"""The soak's client threads (bench/soak.py): each loops over a random mix of reads,
ARQ cycles, device profile cycles and agent reports until the deadline, then finishes
what it started.

An ARQ cycle is what a client of the API does with an accelerator: create from a
device profile, bind (Nova-style with the device provider, or standalone at 2.4 with
the host only), wait until it is Bound, unbind, delete, and check it is gone.
"""

import random
import threading
import time
import uuid
from typing import Any

import requests
from oslo_config import cfg

import cyborg.conf
from bench import soak_cloud, soak_record
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.common import context as cyborg_context
from cyborg.conductor import rpcapi
from cyborg.drivers import fake, fake_inventory
from tests.functional import agent_swarm

PROJECT = "soak-project"
NOVA_PROFILE = "soak-fpga"  # one of a board's 16 FPGAs: Nova-style binds
STANDALONE_PROFILE = "soak-gpu"  # one GPU of a swarm host: standalone binds
PROFILES = {
    NOVA_PROFILE: [{"resources:FPGA": "1", "trait:CUSTOM_FAKE_DEVICE": "required"}],
    STANDALONE_PROFILE: [{"resources:PGPU": "1"}],
}
USER = {
    "X-User-Id": "soak-user",
    "X-Project-Id": PROJECT,
    "X-Roles": "member,reader",
    "X-Service-Roles": "service",  # as Nova's service token: binds and deletes
}
STANDALONE = {"OpenStack-API-Version": "accelerator 2.4"}
LATEST = {"OpenStack-API-Version": "accelerator latest"}
# Collections with a GET of one member; ARQs and devices may go between list and get.
COLLECTIONS = ("devices", "deployables", "attributes", "device_profiles", "accelerator_requests")
WEIGHTS = {"read": 4, "nova_cycle": 2, "standalone_cycle": 2, "profile_cycle": 1, "report": 1}
BIND_TIMEOUT = 120.0


def binding(host: str, instance: str, device_rp: str | None) -> list[dict[str, str]]:
    values = {"hostname": host, "instance_uuid": instance}
    if device_rp:
        values["device_rp_uuid"] = device_rp
    return [{"path": f"/{k}", "op": "add", "value": v} for k, v in values.items()]


def unbinding(device_rp: bool) -> list[dict[str, str]]:
    paths = ["hostname", "instance_uuid", *(["device_rp_uuid"] if device_rp else [])]
    return [{"path": f"/{p}", "op": "remove"} for p in paths]


class ReportingHost:
    """A host only this client reports: a GPU's memory changes on every report, and a
    third GPU comes and goes every fifth (a new provider in Placement, then none)."""

    def __init__(self, name: str, conductor: rpcapi.ConductorAPI) -> None:
        self.name = name
        self.reports = 0
        self.driver = fake.FakeDriver(None, hostname=name, inventory=self._inventory())
        self.tracker = ResourceTracker(name, [self.driver], conductor)

    def _inventory(self) -> list[Any]:
        spec = agent_swarm.generated(self.name, 3 if (self.reports // 5) % 2 else 2)
        spec[0]["deployables"][0]["attributes"]["memory_mb"] = str(16384 + self.reports)  # type: ignore[index]
        return fake_inventory.parse(spec, fake.safe_name(self.name))

    def report(self) -> dict[str, Any] | None:
        self.reports += 1
        self.driver.inventory = self._inventory()
        return self.tracker.report(cyborg_context.get_admin_context())


class Client:
    def __init__(
        self,
        index: int,
        cloud: soak_cloud.Cloud,
        conductor: rpcapi.ConductorAPI,
        recorder: soak_record.Recorder,
        ledger: soak_record.Ledger,
    ) -> None:
        self.cloud = cloud
        self.api = cloud.deployment.endpoint
        self.recorder = recorder
        self.ledger = ledger
        self.random = random.Random(index)  # noqa: S311 - a mix of actions, not secrets
        self.session = requests.Session()
        self.index = index
        self.profiles = 0
        self.host = ReportingHost(f"soak-report-{index:02d}", conductor)

    def run(self, deadline: float) -> None:
        actions, weights = zip(*WEIGHTS.items(), strict=True)
        while time.monotonic() < deadline:
            (action,) = self.random.choices(actions, weights)
            getattr(self, action)()

    def call(
        self, kind: str, method: str, path: str, expect: tuple[int, ...], **kwargs: Any
    ) -> requests.Response | None:
        return self.recorder.http(self.session, kind, method, self.api + path, expect, **kwargs)

    # -- reads ------------------------------------------------------------------------

    def read(self) -> None:
        root = self.api.removesuffix("/v2")
        which = self.random.choice((*COLLECTIONS, "graphs", "version"))
        if which == "version":
            for url in (root + "/", self.api):
                self.recorder.http(self.session, "read version", "GET", url, (200,))
            return
        headers = {**soak_cloud.ADMIN, **LATEST}
        if which == "graphs":  # none are uploaded: the list only
            self.call("read list", "GET", "/graphs", (200,), headers=headers)
            return
        listed = self.call("read list", "GET", f"/{which}", (200,), headers=headers)
        if listed is None or listed.status_code != 200:
            return
        members = listed.json()["arqs" if which == "accelerator_requests" else which]
        if members:
            member = self.random.choice(members)
            self.call("read one", "GET", f"/{which}/{member['uuid']}", (200, 404), headers=headers)

    # -- device profiles --------------------------------------------------------------

    def profile_cycle(self) -> None:
        self.profiles += 1
        name = f"soak-dp-{self.index:02d}-{self.profiles}"
        body = [{"name": name, "groups": PROFILES[STANDALONE_PROFILE]}]
        headers = {**soak_cloud.ADMIN, **LATEST}
        created = self.call("profile create", "POST", "/device_profiles", (201,), json=body,
                            headers=headers)  # fmt: skip
        if created is None or created.status_code != 201:
            return
        self.call("profile show", "GET", f"/device_profiles/{name}", (200,), headers=headers)
        self.call("profile delete", "DELETE", f"/device_profiles/{name}", (204,), headers=headers)
        self.ledger.cycle("device profile")

    # -- agent reports ----------------------------------------------------------------

    def report(self) -> None:
        try:
            self.recorder.timed("agent report (RPC)", self.host.report)
        except Exception as err:
            self.recorder.problem("transport", f"agent report of {self.host.name}: {err!r}")

    # -- ARQ cycles -------------------------------------------------------------------

    def nova_cycle(self) -> None:
        host = self.random.choice(sorted(self.cloud.boards))
        self._arq_cycle("Nova-style", NOVA_PROFILE, host, self.cloud.boards[host], {})

    def standalone_cycle(self) -> None:
        host = self.random.choice(self.cloud.swarm_hosts)
        self._arq_cycle("standalone", STANDALONE_PROFILE, host, None, STANDALONE)

    def _arq_cycle(
        self, style: str, profile: str, host: str, device_rp: str | None, version: dict[str, str]
    ) -> None:
        headers = {**USER, **version}
        body = {"device_profile_name": profile}
        created = self.call("arq create", "POST", "/accelerator_requests", (201,), json=body,
                            headers=headers)  # fmt: skip
        if created is None or created.status_code != 201:
            return
        (arq,) = created.json()["arqs"]
        arq_uuid = arq["uuid"]
        self.ledger.created(arq_uuid)
        instance = str(uuid.uuid4())
        self.cloud.nova.instances.add(instance)
        patch = {arq_uuid: binding(host, instance, device_rp)}
        # 409: every GPU of the host is taken (standalone binds pick a host at random).
        allowed = (202,) if device_rp else (202, 409)
        bound = self.call(f"arq bind ({style})", "PATCH", "/accelerator_requests", allowed,
                          json=patch, headers=headers)  # fmt: skip
        if bound is not None and bound.status_code == 202:
            state = self._wait_resolved(arq_uuid, headers)
            if state == "Bound" and device_rp:
                self._resolved_for_nova(arq_uuid, instance, headers)
            if state == "Bound":
                self._unbind(style, arq_uuid, device_rp is not None, headers)
            elif state == "BindFailed":
                self.ledger.failed(f"{style} bind of {arq_uuid} on {host} failed")
            elif state is None:
                return  # lost, or stuck (left for the final check)
        self._delete(arq_uuid, headers)
        self.ledger.cycle(f"ARQ ({style})")

    def _show(self, arq_uuid: str, headers: dict[str, str]) -> dict[str, Any] | None:
        """The ARQ, or None when it is gone (recorded as lost: nobody deleted it)."""
        path = f"/accelerator_requests/{arq_uuid}"
        shown = self.call("arq show", "GET", path, (200,), headers=headers)
        if shown is not None and shown.status_code == 404:
            self.ledger.gone(arq_uuid, "404 before it was deleted")
            return None
        if shown is None or shown.status_code != 200:
            return {}
        return dict(shown.json())

    def _wait_resolved(self, arq_uuid: str, headers: dict[str, str]) -> str | None:
        deadline = time.monotonic() + BIND_TIMEOUT
        while time.monotonic() < deadline:
            arq = self._show(arq_uuid, headers)
            if arq is None:
                return None
            if arq.get("state") in ("Bound", "BindFailed"):
                return str(arq["state"])
            time.sleep(0.05)
        return None  # the final check reports it stuck in BindStarted

    def _resolved_for_nova(self, arq_uuid: str, instance: str, headers: dict[str, str]) -> None:
        """nova-compute's read of the instance's ARQs, each with its attach handle."""
        query = {"instance": instance, "bind_state": "resolved"}
        listed = self.call("arq list (Nova)", "GET", "/accelerator_requests", (200,),
                           params=query, headers=headers)  # fmt: skip
        if listed is None or listed.status_code != 200:
            return
        seen = [(a["uuid"], a["state"], bool(a["attach_handle_type"]))
                for a in listed.json()["arqs"]]  # fmt: skip
        if seen != [(arq_uuid, "Bound", True)]:
            self.recorder.problem("unexpected", f"instance {instance} has ARQs {seen}")

    def _unbind(self, style: str, arq_uuid: str, device_rp: bool, headers: dict[str, str]) -> None:
        patch = {arq_uuid: unbinding(device_rp)}
        self.call(f"arq unbind ({style})", "PATCH", "/accelerator_requests", (202,), json=patch,
                  headers=headers)  # fmt: skip
        arq = self._show(arq_uuid, headers)
        if arq and arq.get("state") != "Unbound":
            self.recorder.problem("unexpected", f"{arq_uuid} is {arq.get('state')} after unbind")

    def _delete(self, arq_uuid: str, headers: dict[str, str]) -> None:
        path = f"/accelerator_requests/{arq_uuid}"
        deleted = self.call("arq delete", "DELETE", path, (204,), headers=headers)
        if deleted is None or deleted.status_code != 204:
            return
        after = self.call("arq show", "GET", path, (404,), headers=headers)
        if after is not None and after.status_code == 404:
            self.ledger.gone(arq_uuid, "deleted")


def conductor_api(cloud: soak_cloud.Cloud) -> rpcapi.ConductorAPI:
    """An RPC client on the deployment's exchange and topic, as its agents have."""
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf(["--config-file", cloud.deployment.conf_path], project="cyborg", default_config_files=[])
    return rpcapi.ConductorAPI(conf)


def run(
    cloud: soak_cloud.Cloud, clients: int, duration: float
) -> tuple[soak_record.Recorder, soak_record.Ledger]:
    """``clients`` threads for ``duration`` seconds; each finishes its last action."""
    recorder, ledger = soak_record.Recorder(), soak_record.Ledger()
    conductor = conductor_api(cloud)
    workers = [Client(n, cloud, conductor, recorder, ledger) for n in range(clients)]
    deadline = time.monotonic() + duration
    threads = [threading.Thread(target=w.run, args=(deadline,), name=f"soak-{n}")
               for n, w in enumerate(workers)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return recorder, ledger
