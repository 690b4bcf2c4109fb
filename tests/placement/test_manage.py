"""``cyborg-manage placement sync`` as an operator runs it, against the real Placement."""

import subprocess
import sys
import uuid
from typing import Any

from cyborg.common import inventory
from cyborg.conductor.inventory import reports
from cyborg.drivers import fake
from cyborg.objects.host_inventory import provider_uuid
from tests.placement_service import ADMIN_TOKEN


def manage(tmp_path: Any, db: Any, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "manage.conf"
    conf.write_text(
        f"[database]\nconnection = {db.engine.url.render_as_string(hide_password=False)}\n"
        f"[placement]\nauth_type = admin_token\ntoken = {ADMIN_TOKEN}\n"
        f"endpoint_override = {endpoint}\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "cyborg.cmd.manage", "--config-file", str(conf), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _store_unpublished(conf: Any, db: Any, hostname: str) -> list[Any]:
    """The fake driver's devices of ``hostname``, stored without Placement (as by a
    conductor that had it unconfigured)."""
    devices = fake.default_inventory(hostname)
    reports.report_inventory(
        conf, db.context, hostname, inventory.fingerprint(devices), inventory.to_primitive(devices)
    )
    return devices


def test_placement_sync_repairs_one_host(
    db, conf, client, hostname, compute_node, placement_endpoint, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    devices = _store_unpublished(conf, db, hostname)
    assert client.get_tree(compute_node) == [client.get_provider(compute_node)]

    result = manage(tmp_path, db, placement_endpoint, "placement", "sync", "--host", hostname)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{hostname}: 3 created, 0 updated, 0 deleted" in result.stdout
    names = {rp.name for rp in client.get_tree(compute_node)} - {hostname}
    assert {provider_uuid(n) for n in names} == {
        provider_uuid(d.deployables[0].name) for d in devices
    }

    again = manage(tmp_path, db, placement_endpoint, "placement", "sync", "--host", hostname)
    assert f"{hostname}: 0 created, 0 updated, 0 deleted, 0 kept while allocated; in step" in (
        again.stdout
    )


def test_placement_sync_says_what_is_missing(db, placement_endpoint, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = manage(tmp_path, db, placement_endpoint, "placement", "sync", "--help")
    assert result.returncode == 0
    assert "--host" in result.stdout and "drift" in result.stdout.lower()
    unconfigured = tmp_path / "empty.conf"
    unconfigured.write_text("")
    command = [sys.executable, "-m", "cyborg.cmd.manage", "--config-file", str(unconfigured)]
    result = subprocess.run(
        [*command, "placement", "sync"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "[placement] auth_type" in result.stderr


def test_placement_sync_of_every_host_shows_progress(
    db, conf, client, placement_endpoint, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Not on a terminal, the sync of every host writes a line per 20% of the hosts to
    stderr (here 5 hosts: each one), in the order it syncs them; results on stdout."""
    hosts = [f"compute-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    for hostname in hosts:
        client.create_provider(str(uuid.uuid4()), hostname)
        _store_unpublished(conf, db, hostname)

    result = manage(tmp_path, db, placement_endpoint, "placement", "sync")
    assert result.returncode == 0, result.stderr[-2000:]
    synced = [line.split(":")[0] for line in result.stdout.splitlines()]
    assert sorted(synced) == sorted(hosts)
    prefix = "cyborg-manage placement sync: hosts: "
    lines = [line.removeprefix(prefix) for line in result.stderr.splitlines() if prefix in line]
    assert lines == ["5 to do"] + [f"{k}/5 ({20 * k}%) {name}" for k, name in enumerate(synced, 1)]
    assert "cyborg-manage placement sync: done in " in result.stderr
