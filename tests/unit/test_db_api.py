"""The connection URLs the services use: all of UTF-8 on every backend."""

import pytest
import sqlalchemy as sa
from oslo_config import cfg

import cyborg.conf
from cyborg.db import api as db_api


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mysql+pymysql://cyborg:s3cret@db/cyborg",
            "mysql+pymysql://cyborg:s3cret@db/cyborg?charset=utf8mb4",
        ),
        (
            "mysql+pymysql://db/cyborg?ssl_ca=/ca.pem",
            "mysql+pymysql://db/cyborg?ssl_ca=/ca.pem&charset=utf8mb4",
        ),
        ("mysql://db/cyborg?charset=utf8", "mysql://db/cyborg?charset=utf8"),
        ("postgresql+psycopg2://db/cyborg", "postgresql+psycopg2://db/cyborg"),
        ("sqlite:////var/lib/cyborg/cyborg.sqlite", "sqlite:////var/lib/cyborg/cyborg.sqlite"),
    ],
    ids=["mysql", "mysql-query", "mysql-own-charset", "postgresql", "sqlite"],
)
def test_mysql_connects_in_utf8mb4_unless_the_url_names_a_charset(url: str, expected: str) -> None:
    assert sa.engine.make_url(db_api.connection_url(url)) == sa.engine.make_url(expected)


def test_an_unset_connection_stays_unset() -> None:
    assert db_api.connection_url("") == ""


def test_the_services_engine_options_carry_it() -> None:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], project="cyborg")
    conf.set_override("connection", "mysql+pymysql://db/cyborg", "database")
    conf.set_override("slave_connection", "mysql+pymysql://replica/cyborg", "database")
    options = db_api.engine_options(conf)
    assert options["connection"].endswith("?charset=utf8mb4")
    assert options["slave_connection"].endswith("?charset=utf8mb4")
