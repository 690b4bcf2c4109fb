"""cyborg-status upgrade check: is this deployment ready for the code installed here?

  cyborg-status [--config-file cyborg.conf] upgrade check [--json] [--role ROLE]

Run it with the configuration of the services on this host. ``--role`` picks what the
host runs (ROLES): ``api`` (database, bus, Keystone, policy file), ``conductor``
(database, bus, Placement, Nova credentials), ``agent`` (bus, drivers, their tools,
the privileged helper) or ``all`` (the default: every check, for an all-in-one).
Exit codes follow oslo.upgradecheck: 0 success, 1 warning, 2 failure. Messages name
the option to fix and never show a password. Every network probe has a timeout.
"""

import contextlib
import sys
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session
from oslo_config import cfg
from oslo_db.sqlalchemy import engines
from oslo_policy import policy
from oslo_upgradecheck import common_checks, upgradecheck

import cyborg.conf
from cyborg.clients import adapters
from cyborg.clients import placement as placement_client
from cyborg.cmd import agent_checks
from cyborg.common import rpc
from cyborg.conf import opts
from cyborg.db import migration

Code = upgradecheck.Code
Result = upgradecheck.Result

# Seconds to wait for RabbitMQ, Placement or Keystone to answer before calling it
# unreachable.
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


def _connect_timeout(url: str, timeout: float) -> str | None:
    """``connect_timeout=N`` for a MySQL or PostgreSQL URL that sets none; else None.

    Both drivers read it from the URL's query; without it a server that drops packets
    would hold the check for minutes (psycopg2: for ever).
    """
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:  # create_engine then reports the bad URL
        return None
    if (
        parsed.get_backend_name() not in ("mysql", "postgresql")
        or "connect_timeout" in parsed.query
    ):
        return None
    return f"connect_timeout={max(1, int(timeout))}"


def check_schema(conf: cfg.ConfigOpts, timeout: float = TIMEOUT) -> upgradecheck.Result:
    """The database answers and its schema is at this code's head revision."""
    engine = None
    try:
        engine = engines.create_engine(
            conf.database.connection,
            max_retries=0,
            mysql_sql_mode=conf.database.mysql_sql_mode,
            connection_parameters=_connect_timeout(conf.database.connection, timeout),
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


def check_keystone_authtoken(
    conf: cfg.ConfigOpts, timeout: float = TIMEOUT
) -> upgradecheck.Result:
    """With ``auth_strategy = keystone`` the API can validate tokens: its options are
    complete and Keystone answers at ``auth_url``."""
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
    url = getattr(section, "auth_url", None) or section.www_authenticate_uri
    if url:
        unreachable = _probe_keystone(url, section.cafile or not section.insecure, timeout)
        if unreachable is not None:
            return unreachable
    if not section.www_authenticate_uri:
        return Result(
            Code.WARNING,
            "[keystone_authtoken] www_authenticate_uri is not set: set it to Keystone's "
            "public URL, which the API sends to clients in WWW-Authenticate.",
        )
    return Result(Code.SUCCESS, f"[keystone_authtoken] is configured; Keystone answers at {url}.")


def _probe_keystone(url: str, verify: bool | str, timeout: float) -> upgradecheck.Result | None:
    """None when ``url`` answers with a Keystone version document; else the Result."""
    try:
        session = ks_session.Session(verify=verify, timeout=timeout)
        response = session.get(
            url, authenticated=False, raise_exc=False, headers={"Accept": "application/json"}
        )
    except ks_exc.ClientException as err:
        return Result(
            Code.FAILURE,
            f"Cannot reach Keystone at {url} ({_brief(err)}). Check [keystone_authtoken] "
            "auth_url and that Keystone is reachable from this host.",
        )
    try:
        document = response.json()
        is_keystone = isinstance(document, dict) and (
            "version" in document or "versions" in document
        )
    except ValueError:
        is_keystone = False
    if not is_keystone:
        return Result(
            Code.FAILURE,
            f"{url} answered HTTP {response.status_code} without a Keystone version document: "
            "check that [keystone_authtoken] auth_url points at Keystone.",
        )
    return None


def check_policy_file(conf: cfg.ConfigOpts) -> upgradecheck.Result:
    """The operator's policy file, if any, parses and names only Cyborg's rules."""
    from cyborg import policies

    enforcer = policy.Enforcer(conf, use_conf=True)
    enforcer.register_defaults(policies.list_rules())
    path = conf.find_file(conf.oslo_policy.policy_file)
    if path is None:
        return Result(Code.SUCCESS, "No policy file: the built-in defaults apply.")
    try:
        enforcer.load_rules(force_reload=True)
    except Exception as err:  # YAML, JSON and rule syntax errors; all mean "unusable"
        return Result(
            Code.FAILURE, f"The policy file {path} does not parse ({_brief(err)}): fix it."
        )
    defaults = set(enforcer.registered_rules)
    unknown = sorted(set(enforcer.file_rules) - defaults)
    if unknown:
        return Result(
            Code.WARNING,
            f"The policy file {path} sets rules Cyborg does not have: {', '.join(unknown)}. "
            "Check their names (`oslopolicy-sample-generator --namespace cyborg`).",
        )
    return Result(
        Code.SUCCESS, f"The policy file {path} parses ({len(enforcer.file_rules)} rules)."
    )


def check_nova(conf: cfg.ConfigOpts) -> upgradecheck.Result:
    """The conductor's ``[nova]`` credentials are complete (Nova is not called)."""
    if not adapters.is_configured(conf, "nova"):
        return Result(
            Code.WARNING,
            "[nova] auth_type is not set: the conductor cannot tell Nova that accelerator "
            "requests are bound, so Nova waits for the event until its arq_binding_timeout "
            "and fails the boot. Set auth_type = password with the cyborg service user's "
            "credentials.",
        )
    try:
        ks_loading.load_auth_from_conf_options(conf, "nova")
    except ks_exc.MissingRequiredOptions as err:
        missing = ", ".join(opt.dest for opt in err.options)
        return Result(Code.FAILURE, f"[nova] lacks options its auth_type needs: {missing}.")
    except ks_exc.NoMatchingPlugin:
        return Result(Code.FAILURE, f"[nova] auth_type {conf.nova.auth_type!r} is unknown.")
    return Result(Code.SUCCESS, "[nova] credentials are complete.")


CheckFunction = Callable[[cfg.ConfigOpts], upgradecheck.Result]

# Check names as the output shows them, with their functions.
CHECKS: dict[str, CheckFunction] = {
    "Database schema": check_schema,
    "RabbitMQ": check_rabbitmq,
    "Placement API": check_placement,
    "Nova credentials": check_nova,
    "Keystone authentication": check_keystone_authtoken,
    "Policy File JSON to YAML Migration": lambda conf: common_checks.check_policy_json(None, conf),  # type: ignore[arg-type]
    "Policy file": check_policy_file,
    "Accelerator drivers": agent_checks.check_drivers_load,
    "Driver tools": agent_checks.check_driver_tools,
    "Privileged helper": agent_checks.check_privsep_helper,
}

# What each role uses. The API calls the conductor over the bus, so it checks it too.
ROLES: dict[str, tuple[str, ...]] = {
    "api": (
        "Database schema",
        "RabbitMQ",
        "Keystone authentication",
        "Policy File JSON to YAML Migration",
        "Policy file",
    ),
    "conductor": ("Database schema", "RabbitMQ", "Placement API", "Nova credentials"),
    "agent": ("RabbitMQ", "Accelerator drivers", "Driver tools", "Privileged helper"),
}
ROLES["all"] = tuple(CHECKS)
DEFAULT_ROLE = "all"


class Checks(upgradecheck.UpgradeCommands):
    """Checks run by ``cyborg-status upgrade check``, those of ``--role``."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    def check(self) -> upgradecheck.Code:
        role = getattr(self.conf.command, "role", None) or DEFAULT_ROLE
        self._upgrade_checks = tuple(
            (name, lambda _self, check=CHECKS[name]: check(self.conf)) for name in ROLES[role]
        )
        return super().check()


def _register_cli(conf: cfg.ConfigOpts, checks: Checks) -> None:
    """``upgrade check [--json] [--role ROLE]``: oslo.upgradecheck's, plus the role."""

    def add_parsers(subparsers: Any) -> None:
        upgrade = subparsers.add_parser("upgrade")
        upgrade.add_argument("check")
        upgrade.set_defaults(action_fn=checks.check)
        upgrade.add_argument(
            "--json", action="store_true", help="Output the results in JSON format."
        )
        upgrade.add_argument(
            "--role",
            choices=sorted(ROLES),
            default=DEFAULT_ROLE,
            help="What this host runs, to check what it uses: api, conductor, agent, or "
            "all (the default, for an all-in-one). Run it once per role a host has.",
        )

    conf.register_cli_opt(cfg.SubCommandOpt("command", handler=add_parsers))


def main(conf: cfg.ConfigOpts | None = None, argv: list[str] | None = None) -> int:
    conf = conf if conf is not None else cyborg.conf.CONF
    cyborg.conf.register_opts(conf)
    opts.set_lib_defaults(conf)
    checks = Checks(conf)
    _register_cli(conf, checks)
    conf(args=sys.argv[1:] if argv is None else argv, project="cyborg")
    upgradecheck.CONF = conf  # where UpgradeCommands.check reads --json
    return int(upgradecheck.run(conf))


if __name__ == "__main__":
    sys.exit(main())
