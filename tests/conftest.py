"""Shared fixtures: a migrated throw-away database per backend, and statement counting.

A test that takes the ``db`` fixture runs once per backend (ids ``sqlite``, ``mysql``,
``postgresql``). Rows are deleted after each test; the database is dropped at the end.
"""

import collections
import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from oslo_db.sqlalchemy import enginefacade, orm

from cyborg.common import concurrency
from cyborg.common import context as cyborg_context
from cyborg.db import api as db_api
from cyborg.db import migration, models
from tests import db_backends


def pytest_configure(config: pytest.Config) -> None:
    # Before any test module imports oslo.service's machinery, as the entry points do.
    concurrency.use_threading()


@pytest.fixture(scope="session", params=db_backends.selected_backends())
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def db_engine(db_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """An engine on a database of this run's own, migrated to head."""
    try:
        url = db_backends.create_database(db_backend, str(tmp_path_factory.mktemp("db")))
    except db_backends.BackendUnavailable as err:
        pytest.fail(str(err), pytrace=False)
    engine = db_backends.make_engine(url)
    try:
        migration.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        db_backends.drop_database(url)


@dataclasses.dataclass
class Database:
    engine: sa.Engine
    backend: str
    context: cyborg_context.RequestContext

    @contextlib.contextmanager
    def count_statements(self) -> Iterator[list[str]]:
        """Collect the SQL statements run inside the block (the list fills as they run)."""
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            # oslo.db emits an explicit BEGIN on SQLite (pysqlite's own is unreliable);
            # it is transaction control, not a query, and other backends send none.
            if not statement.startswith("BEGIN"):
                statements.append(statement)

        sa.event.listen(self.engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            sa.event.remove(self.engine, "before_cursor_execute", record)


@pytest.fixture
def db(db_engine: sa.Engine, db_backend: str) -> Iterator[Database]:
    """The data-access layer pointed at this backend's database, emptied after the test."""
    maker = orm.get_maker(engine=db_engine, expire_on_commit=False)
    factory = enginefacade._TestTransactionFactory(db_engine, maker, apply_global=False)
    reset = db_api.context_manager.patch_factory(factory)
    try:
        yield Database(db_engine, db_backend, cyborg_context.get_admin_context())
    finally:
        reset()
        with db_engine.begin() as connection:
            for table in db_backends.iter_tables_for_cleanup(models.Base.metadata):
                connection.execute(table.delete())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many tests ran on each database backend (the ids end in [backend...])."""
    counts: dict[str, collections.Counter[str]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome == "passed":
                continue
            params = report.nodeid.rpartition("[")[2].rstrip("]").split("-")
            backend = next((p for p in params if p in db_backends.ALL_BACKENDS), None)
            if backend:
                counts.setdefault(backend, collections.Counter())[outcome] += 1
    if counts:
        terminalreporter.section("database backends")
        for backend in db_backends.ALL_BACKENDS:
            if backend in counts:
                summary = ", ".join(f"{n} {k}" for k, n in sorted(counts[backend].items()))
                terminalreporter.write_line(f"{backend:<11} {summary}")


def pytest_make_parametrize_id(config: Any, val: object, argname: str) -> str | None:
    """Keep ':' out of generated test ids.

    gabbi's pytest plugin takes every test whose id holds ':' for one of its own, and
    PCI addresses and JSON are full of them. (gabbi names its tests itself.)
    """
    if isinstance(val, str | int | float | bool) or val is None:
        return str(val).replace(":", "_")
    return None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Any:
    """Refuse an explicit id with ':' clearly: gabbi's plugin (a wrapper that runs
    after this one) would take the test for its own and break the whole session with
    a KeyError."""
    taken = [i.nodeid for i in items if ":" in i.name and "gabbi" not in i.nodeid]
    if taken:
        raise pytest.UsageError(
            "test ids must not hold ':' (gabbi's plugin claims them): " + ", ".join(taken[:5])
        )
    yield
