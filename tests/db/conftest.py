from collections.abc import Iterator

import pytest

from tests import db_backends


@pytest.fixture
def empty_db_url(db_backend: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A new, empty database on this backend, dropped after the test."""
    try:
        url = db_backends.create_database(db_backend, str(tmp_path))
    except db_backends.BackendUnavailable as err:
        pytest.fail(str(err), pytrace=False)
    try:
        yield url
    finally:
        db_backends.drop_database(url)
