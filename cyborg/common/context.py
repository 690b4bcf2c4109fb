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

    # A conductor call's id and deadline travel with the context (cyborg.common.deadline).
    FROM_DICT_EXTRA_KEYS = ["call_id", "deadline"]

    def __init__(
        self, *args: Any, call_id: str | None = None, deadline: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.call_id = call_id
        self.deadline = deadline
        # Set by the conductor while it serves the call.
        self.call_guard: Any = None

    def to_dict(self) -> dict[str, Any]:
        values = dict(super().to_dict())
        values["call_id"] = self.call_id
        values["deadline"] = self.deadline
        return values

    def to_policy_values(self) -> Any:
        values = super().to_policy_values()
        values["project_id"] = self.project_id
        return values


def get_admin_context() -> RequestContext:
    """A context for internal work (conductor, agent, tools) that sees every project."""
    return RequestContext(is_admin=True, overwrite=False)
