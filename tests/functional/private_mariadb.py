"""A MariaDB server of the test's own, which it may stop and start again.

Its data directory, port, socket and pid file are its own (``--no-defaults``: the
machine's /etc/mysql is not read), made with ``mariadb-install-db``; root has no
password over TCP. Stopping it is a clean shutdown of the server (SIGTERM), so the
services see what a stopped database looks like to them: refused connections.
"""

import os
import shutil
import subprocess
import time

import sqlalchemy as sa

from tests import service_process
from tests.functional import services

HOW_TO_INSTALL = (
    "mariadbd and mariadb-install-db are needed for the fault tests (a private server "
    "is started and stopped): install them with `apt-get install mariadb-server` or "
    "`tools/test-services.sh mariadb`."
)


class MariaDBUnavailable(Exception):
    """The server could not be started; the message says why and how to fix it."""


def _program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise MariaDBUnavailable(f"{name} not found. {HOW_TO_INSTALL}")
    return found


class PrivateMariaDB:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.datadir = os.path.join(directory, "data")
        self.port = services.free_port()
        self.log_path = os.path.join(directory, "mariadb.log")
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "") -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}"

    def _options(self) -> list[str]:
        join = os.path.join
        return [
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={join(self.directory, 'mariadb.sock')}",
            f"--pid-file={join(self.directory, 'mariadb.pid')}",
            "--user=root",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--performance-schema=OFF",
        ]

    def install(self) -> None:
        os.makedirs(self.datadir, exist_ok=True)
        with open(self.log_path, "ab") as log:
            done = subprocess.run(
                [
                    _program("mariadb-install-db"),
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=180,
                check=False,
            )
        if done.returncode != 0:
            self._fail(f"mariadb-install-db exited with {done.returncode}")

    def start(self, timeout: float = 120) -> None:
        """Start the server and wait until it answers a query."""
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [_program("mariadbd"), *self._options()],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._fail(f"mariadbd exited with {self._process.returncode}")
            if self.answers():
                return
            time.sleep(0.25)
        self.stop()
        self._fail(f"MariaDB did not answer within {timeout}s")

    def answers(self) -> bool:
        engine = sa.create_engine(self.url(), poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.OperationalError:
            return False
        finally:
            engine.dispose()

    def create_database(self, name: str) -> str:
        """An empty database; its URL."""
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        finally:
            engine.dispose()
        return self.url(name)

    def stop(self, timeout: float = 60) -> None:
        """A clean shutdown (SIGTERM): clients' connections are closed, new ones refused."""
        service_process.stop(self._process, timeout)
        self._process = None

    def _fail(self, what: str) -> None:
        raise MariaDBUnavailable(
            f"{what}. Last lines of {self.log_path}:\n{service_process.tail(self.log_path)}\n"
            f"{HOW_TO_INSTALL}"
        )
