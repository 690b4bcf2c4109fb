"""No-auth's loopback rule for cyborg-api's listening address; SQL statements per list.

Keystone mode's public and protected paths are the story gabbits/keystone-auth.yaml;
no-auth's refusal of remote clients, per request, gabbits/noauth-remote.yaml.
"""

from typing import Any

import pytest
import webob
from oslo_config import cfg

import cyborg.conf
from cyborg.api import app as api_app
from cyborg.cmd import api as api_cmd
from cyborg.conductor.jobs import queue
from cyborg.conf import opts
from cyborg.objects import job as job_obj
from tests.db import seed


def _conf(**overrides: Any) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    opts.set_lib_defaults(conf)
    conf([], project="cyborg")
    for name, value in overrides.items():
        group, _, option = name.rpartition("__")
        conf.set_override(option, value, group or None)
    return conf


def _get(app: Any, path: str, **headers: str) -> webob.Response:
    return webob.Request.blank(path, headers=headers).get_response(app)


@pytest.mark.parametrize(
    ("host", "allow", "refused"),
    [
        ("127.0.0.1", False, False),
        ("127.0.1.1", False, False),
        ("::1", False, False),
        ("::ffff:127.0.0.1", False, False),
        ("localhost", False, False),
        ("0.0.0.0", False, True),
        ("cyborg.example.com", False, True),
        ("10.1.2.3", True, False),
    ],
    # No "::" in test ids: pytest-xdist splits node ids on it.
    ids=[
        "ipv4-loopback",
        "ipv4-loopback-net",
        "ipv6-loopback",
        "ipv4-mapped-loopback",
        "localhost",
        "any-address",
        "host-name",
        "remote-allowed",
    ],
)
def test_noauth_listens_on_loopback_unless_allowed(host: str, allow: bool, refused: bool) -> None:
    conf = _conf(auth_strategy="noauth", api__host_ip=host, api__noauth_allow_remote=allow)
    assert (api_cmd.refuse_remote_noauth(conf) is not None) == refused
    assert api_cmd.refuse_remote_noauth(_conf(api__host_ip="0.0.0.0")) is None  # keystone


@pytest.mark.parametrize("size", [10, 1000])
def test_listing_devices_through_the_api_costs_the_same_statements(db, size: int) -> None:  # type: ignore[no-untyped-def]
    seed.devices(db.engine, size)
    app = api_app.build(_conf(auth_strategy="noauth"), conductor=lambda: None)
    for path, key in [
        ("/v2/devices", "devices"),
        ("/v2/deployables", "deployables"),
        ("/v2/accelerator_requests", "arqs"),
    ]:
        with db.count_statements() as statements:
            response = _get(app, f"{path}?limit=1000")
        assert response.status_int == 200, response.text
        if key != "arqs":
            assert len(response.json[key]) == size
        assert len(statements) <= 2, (path, statements)


@pytest.mark.parametrize("size", [10, 1000])
def test_listing_plans_costs_the_same_statements_and_no_results(db, size: int) -> None:  # type: ignore[no-untyped-def]
    graphs = seed.plans(db.engine, size)
    app = api_app.build(_conf(auth_strategy="noauth"), conductor=lambda: None)
    version = {"OpenStack-API-Version": "accelerator 2.7"}
    listed: dict[str, list[str]] = {}
    for query, expected in [("", size), (f"&graph_uuid={graphs[1]}", size // 2)]:
        with db.count_statements() as statements:
            response = _get(app, f"/v2/plans?limit=1000{query}", **version)
        assert response.status_int == 200, response.text
        assert len(response.json["plans"]) == expected
        assert all("result" not in plan for plan in response.json["plans"])
        assert len(statements) <= 1, statements
        # The results (a device per node) stay in the database.
        assert not any("result_json" in sql for sql in statements), statements
        listed[query] = [plan["uuid"] for plan in response.json["plans"]]
    every = listed[""]
    with db.count_statements() as statements:
        response = _get(app, f"/v2/plans?limit=1000&marker={every[size // 2]}", **version)
    assert [plan["uuid"] for plan in response.json["plans"]] == every[size // 2 + 1 :]
    assert len(statements) <= 2, statements  # the marker's row, then the page


@pytest.mark.parametrize("size", [10, 1000])
def test_listing_jobs_costs_the_same_statements(db, size: int) -> None:  # type: ignore[no-untyped-def]
    for n in range(size):
        new = job_obj.NewJob(
            name=f"j{n}",
            project_id="admin",
            graph_uuid=None,
            job_type="t",
            throughputs={"A100": 1.0 + n},
            min_devices=1,
            max_devices=2,
            priority=n % 3,
        )
        queue.create_job(db.context, new, queued_limit=-1, visible_to_project=None)
    app = api_app.build(_conf(auth_strategy="noauth"), conductor=lambda: None)
    version = {"OpenStack-API-Version": "accelerator 2.9"}
    with db.count_statements() as statements:
        response = _get(app, "/v2/jobs?limit=1000&state=queued", **version)
    assert response.status_int == 200, response.text
    assert len(response.json["jobs"]) == size
    assert len(statements) <= 1, statements
    with db.count_statements() as statements:
        response = _get(app, "/v2/jobs?limit=1000&sort_key=priority&sort_dir=desc", **version)
    assert [job["priority"] for job in response.json["jobs"]][:1] == [min(size - 1, 2)]
    assert len(statements) <= 1, statements
