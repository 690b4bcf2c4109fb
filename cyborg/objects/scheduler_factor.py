"""Learned roofline factors per (op type, device model), versioned on every update."""

import dataclasses
from collections.abc import Mapping

import sqlalchemy as sa
from oslo_db import api as oslo_db_api
from oslo_db import exception as db_exc
from oslo_utils import timeutils

from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models

MODEL = models.SchedulerFactor


@dataclasses.dataclass(frozen=True)
class Factor:
    op_type: str
    device_model: str
    factor: float
    samples: int
    version: int


@db_api.context_manager.reader
def get_all(context: RequestContext, *, device_models: list[str] | None = None) -> list[Factor]:
    """Every factor (of ``device_models`` only, when given), in one query."""
    stmt = sa.select(MODEL).order_by(MODEL.op_type, MODEL.device_model)
    if device_models is not None:
        stmt = stmt.where(MODEL.device_model.in_(device_models))
    return [
        Factor(row.op_type, row.device_model, row.factor, row.samples, row.version)
        for row in context.session.scalars(stmt)
    ]


def as_mapping(factors: list[Factor]) -> dict[tuple[str, str], float]:
    """The scheduler's ``Factors`` mapping."""
    return {(f.op_type, f.device_model): f.factor for f in factors}


@oslo_db_api.wrap_db_retry(
    max_retries=3,
    retry_on_deadlock=True,
    retry_interval=0.05,
    exception_checker=lambda err: isinstance(err, db_exc.DBDuplicateEntry),
)
def save(context: RequestContext, updated: Mapping[tuple[str, str], float]) -> None:
    """Store new factors: existing rows get version + 1 and one more sample, new rows
    version 1. Rows are locked first, so two conductors' updates queue up; two that
    both insert the same new row meet on its unique key, and the loser, retried,
    finds the row and updates it."""
    if updated:
        _save(context, updated)


@db_api.context_manager.writer
def _save(context: RequestContext, updated: Mapping[tuple[str, str], float]) -> None:
    models_ = sorted({model for _, model in updated})
    rows = {
        (row.op_type, row.device_model): row
        for row in context.session.scalars(
            sa.select(MODEL).where(MODEL.device_model.in_(models_)).with_for_update()
        )
    }
    now = timeutils.utcnow()
    new = []
    for (op_type, model), value in sorted(updated.items()):
        row = rows.get((op_type, model))
        if row is None:
            new.append(
                {
                    "op_type": op_type,
                    "device_model": model,
                    "factor": value,
                    "samples": 1,
                    "version": 1,
                    "created_at": now,
                }
            )
        elif row.factor != value:
            row.factor = value
            row.samples += 1
            row.version += 1
    if new:
        context.session.execute(sa.insert(MODEL), new)
