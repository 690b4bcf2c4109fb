"""Keyset pagination (limit, marker, sort key and direction) done in SQL.

The marker is the uuid of the last item of the previous page. Rows are ordered by
the sort key and then by id, so pages never overlap or skip rows, even when the
sort key has duplicates or NULLs (NULLs sort first ascending, last descending, on
every backend).
"""

import dataclasses
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cyborg.common import exception

SORT_DIRS = ("asc", "desc")


@dataclasses.dataclass(frozen=True)
class PageRequest:
    limit: int | None = None
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "asc"


ALL = PageRequest()


def paginate(
    session: Session,
    stmt: sa.Select[Any],
    model: Any,
    page: PageRequest,
    sort_keys: Collection[str],
) -> sa.Select[Any]:
    """Add ORDER BY, the marker's keyset condition and LIMIT to ``stmt``.

    Costs one extra statement when a marker is given (to read the marker row).
    """
    if page.sort_key not in sort_keys:
        raise exception.InvalidSortKey(key=page.sort_key, allowed=", ".join(sorted(sort_keys)))
    if page.sort_dir not in SORT_DIRS:
        raise exception.InvalidParameterValue(name="sort_dir", reason="it must be 'asc' or 'desc'")
    column = getattr(model, page.sort_key)
    ascending = page.sort_dir == "asc"
    nullable = bool(column.property.columns[0].nullable)

    if page.marker is not None:
        marker_row = session.execute(
            sa.select(column, model.id).where(model.uuid == page.marker)
        ).first()
        if marker_row is None:
            raise exception.MarkerNotFound(marker=page.marker)
        stmt = stmt.where(_after(column, model.id, marker_row[0], marker_row[1], ascending))

    stmt = stmt.order_by(*_ordering(column, model.id, ascending, nullable))
    if page.limit is not None:
        stmt = stmt.limit(page.limit)
    return stmt


def _ordering(column: Any, id_column: Any, ascending: bool, nullable: bool) -> list[Any]:
    direction = sa.asc if ascending else sa.desc
    terms = []
    if nullable:
        # 0 for NULL: NULLs first ascending, last descending, whatever the backend's default.
        terms.append(direction(sa.case((column.is_(None), 0), else_=1)))
    terms += [direction(column), direction(id_column)]
    return terms


def _after(column: Any, id_column: Any, value: Any, marker_id: int, ascending: bool) -> Any:
    """Rows that come after the marker (value, marker_id) in the order of _ordering."""
    if ascending:
        if value is None:
            return sa.or_(column.is_not(None), sa.and_(column.is_(None), id_column > marker_id))
        return sa.or_(column > value, sa.and_(column == value, id_column > marker_id))
    if value is None:
        return sa.and_(column.is_(None), id_column < marker_id)
    return sa.or_(
        column < value, column.is_(None), sa.and_(column == value, id_column < marker_id)
    )
