"""Whether the database answers now: the probe of the API's health check."""

import sqlalchemy as sa

from cyborg.common.context import RequestContext
from cyborg.db import api as db_api


@db_api.context_manager.reader
def ping(context: RequestContext) -> None:
    """One round trip (``SELECT 1``) on a pooled connection; raises what the driver
    raises when the database cannot be reached."""
    context.session.execute(sa.text("SELECT 1"))
