"""A minute of bench/soak.py (``tox -e soak`` runs ten): concurrent clients mixing reads,
ARQ cycles, device profile cycles and agent reports against a real multi-process
deployment get no 5xx, lose no ARQ, leave none stuck and leave nothing held.

Latency and RSS are printed (``pytest -s`` shows them), never asserted.
"""

import pytest

from bench import soak
from tests import placement_service
from tests.functional import services


def test_a_minute_of_mixed_load_has_no_5xx_and_loses_or_strands_no_arq() -> None:
    services.require_rabbitmq()
    try:
        result = soak.run(duration=60, clients=4, swarm_hosts=8, settle=60)
    except placement_service.PlacementUnavailable as err:
        pytest.fail(str(err), pytrace=False)
    figures = soak.report(result)
    print(figures)
    if result.failures():
        pytest.fail(figures, pytrace=False)
    assert result.recorder.server_error_count == 0
    assert result.lost == {}
    assert result.stuck == {}
    assert all(result.ledger.cycles.get(k) for k in ("ARQ (Nova-style)", "ARQ (standalone)"))
