"""The sample per-service files of etc/cyborg/deploy/ say only what Cyborg understands.

Every option of each ``*.conf.example`` must be one Cyborg, keystonemiddleware,
oslo.messaging or the auth plugin it names registers, with a valid value; each systemd
unit runs its service as ``cyborg`` with ``--config-file``.
"""

import configparser
import glob
import os

import pytest
from keystoneauth1 import loading as ks_loading
from keystonemiddleware import auth_token
from oslo_config import cfg
from oslo_messaging import opts as messaging_opts

import cyborg.conf
from cyborg.conf import privileged as privileged_conf

DEPLOY = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "etc",
    "cyborg",
    "deploy",
)
EXAMPLES = sorted(glob.glob(os.path.join(DEPLOY, "*.conf.example")))
UNITS = sorted(glob.glob(os.path.join(DEPLOY, "*.service")))


def _load(path: str) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    # The libraries' groups, and the agent's privsep group (which only the agent's
    # privileged context registers, when it starts its daemon).
    for group, group_opts in [
        *auth_token.list_opts(),
        *messaging_opts.list_opts(),
        *((g.name, o) for g, o in privileged_conf.list_opts().items()),
    ]:
        conf.register_opts(group_opts, group=group)
    cyborg.conf.parse_args(["cyborg-test", "--config-file", path], conf=conf)
    return conf


def _sections(path: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def test_there_is_an_example_per_service() -> None:
    names = {os.path.basename(path) for path in EXAMPLES + UNITS}
    for service in ("cyborg-api", "cyborg-conductor", "cyborg-agent"):
        assert f"{service}.conf.example" in names
        assert f"{service}.service" in names


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_every_option_is_known_and_valid(path: str) -> None:
    conf = _load(path)
    parser = _sections(path)
    unknown = []
    for section in ["DEFAULT", *parser.sections()]:
        group = None if section == "DEFAULT" else section
        values = parser.defaults() if group is None else dict(parser.items(section, raw=True))
        if group is not None and "auth_type" in values:
            ks_loading.load_auth_from_conf_options(conf, group)  # registers its options
        for key in values:
            if group is not None and key in parser.defaults():
                continue  # [DEFAULT] keys show up in every section of configparser
            try:
                getattr(conf[group] if group else conf, key)  # parses the value too
            except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
                unknown.append(f"[{section}] {key}")
    assert not unknown, f"{os.path.basename(path)}: unknown options {unknown}"


@pytest.mark.parametrize("path", UNITS, ids=os.path.basename)
def test_systemd_unit_runs_the_service_as_cyborg(path: str) -> None:
    service = _sections(path)["Service"]
    name = os.path.basename(path).removesuffix(".service")
    assert service["Type"] == "simple"
    assert service["Restart"] == "on-failure"
    assert service["User"] == "cyborg"
    assert service["ExecStart"].split() == [
        f"/opt/cyborg/bin/{name}",
        "--config-file",
        "/etc/cyborg/cyborg.conf",
    ]
