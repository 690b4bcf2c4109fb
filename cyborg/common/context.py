"""The request context: who is asking, plus the database transaction it runs in."""

from typing import Any

from oslo_context import context as oslo_context
from oslo_db.sqlalchemy import enginefacade
from sqlalchemy import orm


@enginefacade.transaction_context_provider
class RequestContext(oslo_context.RequestContext):
    """oslo.context's context, able to carry an enginefacade session."""

    # Set by enginefacade's decorator as a property; declared for type checkers only.
    session: orm.Session

    def to_policy_values(self) -> Any:
        values = super().to_policy_values()
        values["project_id"] = self.project_id
        return values


def get_admin_context() -> RequestContext:
    """A context for internal work (conductor, agent, tools) that sees every project."""
    return RequestContext(is_admin=True, overwrite=False)
