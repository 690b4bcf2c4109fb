"""cyborg-status upgrade check: is this deployment ready for the code installed here?

  cyborg-status [--config-file cyborg.conf] upgrade check [--json]

Run it with the configuration of the services on this host. It checks the database
schema, the message bus, Placement, the API's Keystone settings and the policy file.
Exit codes follow oslo.upgradecheck: 0 success, 1 warning, 2 failure. Messages name
the option to fix and never show a password.
"""

import contextlib
import sys
from collections.abc import Iterable

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
from oslo_db.sqlalchemy import engines
from oslo_upgradecheck import common_checks, upgradecheck

import cyborg.conf
from cyborg.clients import adapters
from cyborg.clients import placement as placement_client
from cyborg.common import rpc
from cyborg.conf import opts
from cyborg.db import migration

Code = upgradecheck.Code
Result = upgradecheck.Result

# Seconds to wait for RabbitMQ or Placement to answer before calling it unreachable.
TIMEOUT = 5.0


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


# The highest Placement microversion any call of the Placement client makes.
PLACEMENT_MICROVERSION = max(
    (value for name, value in vars(placement_client).items() if name.startswith("MV_")),
    key=_version,
)


def _brief(err: BaseException, secret: str | None = None) -> str:
    """``Type: message`` of an error, short, with ``secret`` masked if it shows up."""
    text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    if secret:
        text = text.replace(secret, "***")
    return text if len(text) <= 200 else text[:197] + "..."


def check_schema(conf: cfg.ConfigOpts) -> upgradecheck.Result:
    """The database answers and its schema is at this code's head revision."""
    engine = None
    try:
        engine = engines.create_engine(
            conf.database.connection, max_retries=0, mysql_sql_mode=conf.database.mysql_sql_mode
        )
        current = migration.current_revision(engine)
    except Exception as err:  # oslo.db and the drivers raise many types; all mean "failed"
        return Result(
            Code.FAILURE,
            f"Cannot read the schema version from [database] connection "
            f"({type(err).__name__}). Check that the database server is up and the URL right.",
        )
    finally:
        if engine is not None:
            engine.dispose()
    head = migration.head_revision()
    if current is None:
        return Result(Code.FAILURE, "The database is empty: run `cyborg-dbsync upgrade`.")
    if current != head:
        return Result(
            Code.FAILURE,
            f"The schema is at {current}, this code needs {head}: run `cyborg-dbsync upgrade`.",
        )
    return Result(Code.SUCCESS, f"Schema at head ({head}).")


def _register(conf: cfg.ConfigOpts, pairs: Iterable[tuple[str, list[cfg.Opt]]]) -> None:
    """Register a library's (group, options) pairs, as its config generator lists them."""
    for group, group_opts in pairs:
        for opt in group_opts:
            # The library may have registered its own copy, with other help text.
            with contextlib.suppress(cfg.DuplicateOptError):
                conf.register_opt(opt, group=group)


def check_rabbitmq(conf: cfg.ConfigOpts, timeout: float = TIMEOUT) -> upgradecheck.Result:
    """Every broker of ``[DEFAULT] transport_url`` accepts an AMQP login."""
    import oslo_messaging

    try:
        logins = rpc.probe_brokers(conf, timeout)
    except oslo_messaging.InvalidTransportURL as err:
        return Result(Code.FAILURE, f"[DEFAULT] transport_url is not a valid URL: {err.msg}")
    if logins.driver == "fake":
        return Result(Code.WARNING, "transport_url is fake://: RPC works inside one process only.")
    if logins.tried == 0:
        return Result(
            Code.WARNING, f"Not checked: transport {logins.transport!r} is not RabbitMQ."
        )
    if not logins.failures:
        return Result(Code.SUCCESS, f"RabbitMQ answers ({logins.tried} host(s)).")
    failures = [f"{f.broker} ({_brief(f.error, f.password)})" for f in logins.failures]
    code = Code.FAILURE if not logins.usable else Code.WARNING
    return Result(
        code,
        f"Cannot log in to RabbitMQ at {'; '.join(failures)}. Check [DEFAULT] transport_url "
        "(user, password, host, port, virtual host) and that RabbitMQ runs and is reachable "
        "from this host.",
    )


def check_placement(conf: cfg.ConfigOpts, timeout: float = TIMEOUT) -> upgradecheck.Result:
    """Placement answers through the ``[placement]`` options at the microversion we need."""
    needed = PLACEMENT_MICROVERSION
    if not adapters.is_configured(conf, "placement"):
        return Result(
            Code.WARNING,
            "[placement] auth_type is not set: the conductor does not publish devices to "
            "Placement, so Nova cannot schedule them. Set auth_type = password with the "
            "cyborg service user's auth_url, username, password, project_name, "
            "user_domain_name and project_domain_name.",
        )
    try:
        adapter = adapters.load(conf, "placement")
        assert adapter is not None  # auth_type is set
        wait = conf.placement.timeout or timeout
        response = adapter.get("/", raise_exc=False, timeout=wait)
    except ks_exc.MissingRequiredOptions as err:
        missing = ", ".join(opt.dest for opt in err.options)
        return Result(Code.FAILURE, f"[placement] lacks options its auth_type needs: {missing}.")
    except ks_exc.ClientException as err:
        problem = _brief(err, getattr(conf.placement, "password", None))
        return Result(
            Code.FAILURE,
            f"Cannot reach Placement ({problem}). Check "
            "the [placement] credentials, region_name, valid_interfaces or endpoint_override, "
            "and that Placement runs and is reachable from this host.",
        )
    try:
        max_version = response.json()["versions"][0]["max_version"]
        supported = _version(max_version)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return Result(
            Code.FAILURE,
            f"{response.url} answered HTTP {response.status_code} without a Placement version "
            "document: check that [placement] points at the Placement API.",
        )
    if supported < _version(needed):
        return Result(
            Code.FAILURE,
            f"Placement at {response.url} supports microversions up to {max_version}; Cyborg "
            f"needs {needed} (Placement of OpenStack Yoga or later): upgrade Placement first.",
        )
    return Result(Code.SUCCESS, f"Placement supports {max_version} (needed: {needed}).")


def _register_authtoken_opts(conf: cfg.ConfigOpts) -> None:
    from keystonemiddleware import auth_token

    _register(conf, auth_token.list_opts())


def check_keystone_authtoken(conf: cfg.ConfigOpts) -> upgradecheck.Result:
    """With ``auth_strategy = keystone`` the API can validate tokens."""
    if conf.auth_strategy != "keystone":
        return Result(
            Code.WARNING,
            f"[DEFAULT] auth_strategy = {conf.auth_strategy}: the API trusts identity headers "
            "without checking tokens. Use auth_strategy = keystone outside an all-in-one.",
        )
    group = "keystone_authtoken"
    _register_authtoken_opts(conf)
    section = conf[group]
    if not section.auth_type:
        return Result(
            Code.FAILURE,
            "[keystone_authtoken] auth_type is not set, so the API cannot validate tokens: "
            "set www_authenticate_uri, auth_type = password, auth_url, username, password, "
            "project_name, user_domain_name and project_domain_name.",
        )
    try:
        ks_loading.load_auth_from_conf_options(conf, group)
    except ks_exc.MissingRequiredOptions as err:
        missing = ", ".join(opt.dest for opt in err.options)
        return Result(Code.FAILURE, f"[keystone_authtoken] lacks {missing}: set it.")
    except ks_exc.NoMatchingPlugin:
        return Result(
            Code.FAILURE, f"[keystone_authtoken] auth_type {section.auth_type!r} is unknown."
        )
    if not section.www_authenticate_uri:
        return Result(
            Code.WARNING,
            "[keystone_authtoken] www_authenticate_uri is not set: set it to Keystone's "
            "public URL, which the API sends to clients in WWW-Authenticate.",
        )
    return Result(Code.SUCCESS, "[keystone_authtoken] is configured.")


class Checks(upgradecheck.UpgradeCommands):
    """Checks run by ``cyborg-status upgrade check``."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    def _check_schema(self) -> upgradecheck.Result:
        return check_schema(self.conf)

    def _check_rabbitmq(self) -> upgradecheck.Result:
        return check_rabbitmq(self.conf)

    def _check_placement(self) -> upgradecheck.Result:
        return check_placement(self.conf)

    def _check_keystone_authtoken(self) -> upgradecheck.Result:
        return check_keystone_authtoken(self.conf)

    def _check_policy_file(self) -> upgradecheck.Result:
        return common_checks.check_policy_json(self, self.conf)

    _upgrade_checks = (
        ("Database schema", _check_schema),
        ("RabbitMQ", _check_rabbitmq),
        ("Placement API", _check_placement),
        ("Keystone authentication", _check_keystone_authtoken),
        ("Policy File JSON to YAML Migration", _check_policy_file),
    )


def main(conf: cfg.ConfigOpts | None = None) -> int:
    conf = conf if conf is not None else cyborg.conf.CONF
    cyborg.conf.register_opts(conf)
    opts.set_lib_defaults(conf)
    return int(upgradecheck.main(conf, project="cyborg", upgrade_command=Checks(conf)))


if __name__ == "__main__":
    sys.exit(main())
