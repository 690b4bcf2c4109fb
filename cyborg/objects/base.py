"""Helpers shared by the data-access modules (one module per entity beside this one)."""

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any, TypeVar

from oslo_db import exception as db_exc
from oslo_utils import uuidutils

from cyborg.common import exception

T = TypeVar("T")


def from_row(cls: type[T], row: Any, **extra: Any) -> T:
    """Build the dataclass ``cls`` from an ORM row's attributes of the same names."""
    values = {
        field.name: getattr(row, field.name)
        for field in dataclasses.fields(cls)  # type: ignore[arg-type]
        if field.name not in extra
    }
    return cls(**values, **extra)


def rowcount(result: Any) -> int:
    """Rows matched by an UPDATE or DELETE (``session.execute`` is typed as a plain Result)."""
    return int(result.rowcount)


def new_uuid() -> str:
    return uuidutils.generate_uuid()


@contextlib.contextmanager
def duplicates_as(resource: str) -> Iterator[None]:
    """Turn the DB's unique-constraint error into a 409 that names what clashed."""
    try:
        yield
    except db_exc.DBDuplicateEntry as err:
        columns = ", ".join(err.columns) if err.columns else "identity"
        raise exception.DuplicateEntry(resource=resource, columns=columns) from err


@contextlib.contextmanager
def references_as(error: exception.CyborgException) -> Iterator[None]:
    """Turn a foreign-key violation (a referenced row is missing or still used) into ``error``."""
    try:
        yield
    except db_exc.DBReferenceError as err:
        raise error from err
