"""oslo.messaging plumbing shared by every service: transports, clients and servers,
and a login to each broker (for cyborg-status and the API's health check).

The control exchange is ``cyborg`` (set as oslo.messaging's default by
cyborg.conf.opts.set_lib_defaults); the URL is ``[DEFAULT] transport_url``.

Exceptions: a server serialises an exception as its class, module, ``args`` and
``kwargs``; a caller whose transport allows the module rebuilds it with
``klass(*args, **kwargs)``. Ours keep the formatted message as their only argument and
the format values in ``.kwargs``, so a CyborgException raised in the conductor re-raises
in the API as the same class (a ``<Name>_Remote`` subclass) with the same ``.message``
and ``.code``. Anything else arrives as ``oslo_messaging.RemoteError`` (an HTTP 500).
"""

import contextlib
import dataclasses
import importlib
import ssl
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import oslo_messaging
from oslo_config import cfg
from oslo_messaging.rpc import dispatcher

from cyborg.common import context as cyborg_context
from cyborg.common import exception

# Modules whose exceptions a caller may rebuild (anything else becomes a RemoteError).
ALLOWED_EXMODS = [exception.__name__]


def _send_failures() -> tuple[type[Exception], ...]:
    failures: list[type[Exception]] = [oslo_messaging.MessageDeliveryFailure]
    try:  # the rabbit driver lets kombu's through when it cannot connect at all
        import kombu.exceptions

        failures.append(kombu.exceptions.OperationalError)
    except ImportError:
        pass
    return tuple(failures)


# What a call raises when it could not be sent (the broker unreachable after the
# call's retries): the message may or may not have reached the broker.
SEND_FAILURES = _send_failures()

# (id of the ConfigOpts, URL) -> (that ConfigOpts, its transport). The ConfigOpts is
# kept so that its id cannot be reused by another one while the entry lives.
_TRANSPORTS: dict[tuple[int, str], tuple[cfg.ConfigOpts, oslo_messaging.Transport]] = {}
_LOCK = threading.Lock()


# Option groups that oslo.messaging reads on every call but registers on the global
# CONF only (as of 18.x): a service's own ConfigOpts needs them too.
_GLOBAL_ONLY_OPTS = (
    ("oslo_messaging._tracing.client", "oslo_messaging_tracing"),
    ("oslo_messaging._metrics.client", "oslo_messaging_metrics"),
)


def _register_global_only_opts(conf: cfg.ConfigOpts) -> None:
    for module_name, group in _GLOBAL_ONLY_OPTS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # a release without this feature does not read the group
            continue
        conf.register_opts(getattr(module, group), group=group)


def get_transport(conf: cfg.ConfigOpts, url: str | None = None) -> oslo_messaging.Transport:
    """The RPC transport of ``conf`` for ``url`` (default ``transport_url``), made once.

    Sharing one transport keeps one connection pool per process, and lets the
    in-process ``fake://`` driver, whose queues live in its transport, reach a server.
    """
    _register_global_only_opts(conf)
    parsed = oslo_messaging.TransportURL.parse(conf, url)
    key = (id(conf), str(parsed))
    with _LOCK:
        if key not in _TRANSPORTS:
            transport = oslo_messaging.get_rpc_transport(
                conf, url=parsed, allowed_remote_exmods=ALLOWED_EXMODS
            )
            _TRANSPORTS[key] = (conf, transport)
        return _TRANSPORTS[key][1]


def cleanup(conf: cfg.ConfigOpts | None = None) -> None:
    """Close the transports made for ``conf`` (all of them when ``conf`` is None)."""
    with _LOCK:
        doomed = [key for key in _TRANSPORTS if conf is None or key[0] == id(conf)]
        transports = [_TRANSPORTS.pop(key)[1] for key in doomed]
    for transport in transports:
        transport.cleanup()


class RequestContextSerializer(oslo_messaging.Serializer):
    """Sends the RequestContext as its dict and rebuilds it on the other side.

    Arguments and results are plain JSON types (uuids, dicts of strings), so entities
    pass through unchanged.
    """

    def serialize_entity(self, ctxt: Any, entity: Any) -> Any:
        return entity

    def deserialize_entity(self, ctxt: Any, entity: Any) -> Any:
        return entity

    def serialize_context(self, ctxt: cyborg_context.RequestContext) -> dict[str, Any]:
        return dict(ctxt.to_dict())

    def deserialize_context(self, ctxt: dict[str, Any]) -> cyborg_context.RequestContext:
        return cyborg_context.RequestContext.from_dict(ctxt)


def get_client(
    conf: cfg.ConfigOpts,
    topic: str,
    version: str,
    *,
    server: str | None = None,
    version_cap: str | None = None,
) -> oslo_messaging.RPCClient:
    """A client for ``topic`` (and ``server``, for a service running on one host)."""
    target = oslo_messaging.Target(topic=topic, server=server, version=version)
    return oslo_messaging.get_rpc_client(
        get_transport(conf),
        target,
        serializer=RequestContextSerializer(),
        version_cap=version_cap,
    )


def get_server(
    conf: cfg.ConfigOpts, target: oslo_messaging.Target, endpoints: Sequence[Any]
) -> oslo_messaging.MessageHandlingServer:
    """An RPC server on native threads; only endpoints' public methods are callable.

    The threading executor is oslo.messaging's default (and its ``executor`` argument
    is deprecated): with cyborg.common.concurrency nothing is monkey-patched, so
    oslo.messaging never picks eventlet.
    """
    return oslo_messaging.get_rpc_server(
        get_transport(conf),
        target,
        list(endpoints),
        serializer=RequestContextSerializer(),
        access_policy=dispatcher.DefaultRPCAccessPolicy,
    )


@contextlib.contextmanager
def older_peers_refuse(what: str, version: str, peer: str, upgrade: str) -> Iterator[None]:
    """A 409 when the ``peer`` that took a call is older than ``version``.

    Its dispatcher refused the call before running anything (oslo.messaging's
    UnsupportedVersion; over a broker, a RemoteError naming it, which would be a 500).
    ``upgrade``: what to upgrade, or cap in ``[upgrade_levels]``, so that it works.
    """
    try:
        yield
    except (oslo_messaging.UnsupportedVersion, oslo_messaging.RemoteError) as err:
        remote = isinstance(err, oslo_messaging.RemoteError)
        if remote and err.exc_type != "UnsupportedVersion":
            raise
        raise exception.Conflict(
            reason=f"{what} needs {peer} with RPC API {version}, which the {peer} that "
            f"took it does not support; {upgrade}"
        ) from err


def stop_server(server: oslo_messaging.MessageHandlingServer, seconds: float) -> bool:
    """Stop taking messages and wait up to ``seconds`` for the calls being served;
    whether they all finished (a service stopping on a signal then exits anyway).
    Stopping itself talks to the broker and may take seconds: it counts too."""

    def stop_and_wait() -> None:
        server.stop()
        server.wait()

    return _within(stop_and_wait, seconds, "stop-rpc-server")


def cleanup_within(conf: cfg.ConfigOpts, seconds: float) -> bool:
    """``cleanup(conf)`` for at most ``seconds``; whether it finished (closing the
    connections to a broker takes a round trip each, or long when it does not answer)."""
    return _within(lambda: cleanup(conf), seconds, "close-transports")


def _within(work: Any, seconds: float, name: str) -> bool:
    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    return not worker.is_alive()


@dataclasses.dataclass(frozen=True)
class BrokerFailure:
    broker: str  # user@host:port/virtual host, without the password
    error: BaseException
    password: str | None  # to mask, should the error repeat it


@dataclasses.dataclass(frozen=True)
class BrokerLogins:
    """What probe_brokers found: the transport's driver, how many brokers it tried to
    log in to (none for a driver other than RabbitMQ's), and the logins that failed."""

    transport: str  # as transport_url names it: rabbit, kombu+rabbit, fake, ...
    tried: int
    failures: tuple[BrokerFailure, ...]

    @property
    def driver(self) -> str:
        return self.transport.removeprefix("kombu+")

    @property
    def usable(self) -> bool:
        """RPC can work: some broker accepted a login, or there was none to try."""
        return len(self.failures) < self.tried or self.tried == 0


def _rabbit_ssl(conf: cfg.ConfigOpts) -> Any:
    """kombu's ``ssl`` argument from [oslo_messaging_rabbit], as the rabbit driver builds it."""
    rabbit = conf.oslo_messaging_rabbit
    if not rabbit.ssl:
        return False
    params = {
        key: value
        for key, value in (
            ("keyfile", rabbit.ssl_key_file),
            ("certfile", rabbit.ssl_cert_file),
            ("ca_certs", rabbit.ssl_ca_file),
        )
        if value
    }
    if rabbit.ssl_ca_file:
        params["cert_reqs"] = ssl.CERT_REQUIRED
    return params or True


def _register_rabbit_opts(conf: cfg.ConfigOpts) -> None:
    from oslo_messaging import opts as messaging_opts

    for group, group_opts in messaging_opts.list_opts():
        if group != "oslo_messaging_rabbit":
            continue
        for opt in group_opts:
            # oslo.messaging may have registered its own copy already.
            with contextlib.suppress(cfg.DuplicateOptError):
                conf.register_opt(opt, group=group)


def probe_brokers(conf: cfg.ConfigOpts, timeout: float) -> BrokerLogins:
    """Log in to every RabbitMQ broker of ``[DEFAULT] transport_url``, once each, with
    ``timeout`` seconds for each step; raises oslo_messaging.InvalidTransportURL."""
    import kombu

    _register_rabbit_opts(conf)
    url = oslo_messaging.TransportURL.parse(conf)
    if url.transport.removeprefix("kombu+") not in ("rabbit", "amqp"):
        return BrokerLogins(url.transport, 0, ())
    hosts = url.hosts or [oslo_messaging.TransportHost(hostname="localhost")]
    failures = []
    for host in hosts:
        connection = kombu.Connection(
            hostname=host.hostname or "localhost",
            port=host.port or 5672,
            userid=host.username or "guest",
            password=host.password or "guest",
            virtual_host=url.virtual_host or "/",
            ssl=_rabbit_ssl(conf),
            login_method=conf.oslo_messaging_rabbit.rabbit_login_method,
            connect_timeout=timeout,
            transport_options={"read_timeout": timeout, "write_timeout": timeout},
        )
        try:
            connection.ensure_connection(max_retries=0)  # one attempt, no back-off
        except Exception as err:  # socket, TLS and AMQP errors: all mean "cannot use it"
            name = f"{host.username or 'guest'}@{host.hostname or 'localhost'}"
            broker = f"{name}:{host.port or 5672}/{url.virtual_host or ''}"
            failures.append(BrokerFailure(broker, err, host.password))
        finally:
            connection.release()
    return BrokerLogins(url.transport, len(hosts), tuple(failures))
