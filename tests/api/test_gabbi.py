"""Run the YAML HTTP stories in tests/api/gabbits against the in-process API."""

import os

from gabbi import driver
from gabbi.driver import test_pytest  # noqa: F401 - the test function gabbi parametrizes

from tests.api import fixtures

TESTS_DIR = os.path.join(os.path.dirname(__file__), "gabbits")


def pytest_generate_tests(metafunc):  # type: ignore[no-untyped-def]
    driver.py_test_generator(
        TESTS_DIR,
        intercept=fixtures.setup_app,
        fixture_module=fixtures,
        test_loader_name=__name__,
        metafunc=metafunc,
    )
