"""cyborg-status upgrade check: is this deployment ready for the code installed here?

  cyborg-status [--config-file cyborg.conf] upgrade check [--json]

Exit codes follow oslo.upgradecheck: 0 success, 1 warning, 2 failure.
"""

import sys

from oslo_config import cfg
from oslo_db.sqlalchemy import engines
from oslo_upgradecheck import common_checks, upgradecheck

import cyborg.conf
from cyborg.conf import opts
from cyborg.db import migration

Code = upgradecheck.Code
Result = upgradecheck.Result


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


class Checks(upgradecheck.UpgradeCommands):
    """Checks run by ``cyborg-status upgrade check``."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    def _check_schema(self) -> upgradecheck.Result:
        return check_schema(self.conf)

    def _check_policy_file(self) -> upgradecheck.Result:
        return common_checks.check_policy_json(self, self.conf)

    _upgrade_checks = (
        ("Database schema", _check_schema),
        ("Policy File JSON to YAML Migration", _check_policy_file),
    )


def main(conf: cfg.ConfigOpts | None = None) -> int:
    conf = conf if conf is not None else cyborg.conf.CONF
    cyborg.conf.register_opts(conf)
    opts.set_lib_defaults(conf)
    return int(upgradecheck.main(conf, project="cyborg", upgrade_command=Checks(conf)))


if __name__ == "__main__":
    sys.exit(main())
