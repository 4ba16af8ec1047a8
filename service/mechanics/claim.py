"""Claiming due work so that several workers never take the same row.

Due rows are selected `FOR UPDATE SKIP LOCKED` on PostgreSQL (a row another worker holds is passed
over, not waited for); SQLite has one writer at a time (`BEGIN IMMEDIATE`), which serialises instead.
A lease (a column moved ahead in the same transaction) keeps the row taken after the commit: work
that dies is picked up again when the lease runs out.
"""
from __future__ import annotations

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from .. import db


def skip_locked(query, s: Session):
    """`query` locking its rows FOR UPDATE SKIP LOCKED on PostgreSQL (unchanged on SQLite)."""
    return query.with_for_update(skip_locked=True) if db.is_postgres(s) else query


def claim(s: Session, model, *due, lease: dict, order_by=(), limit: int | None = None) -> list[int]:
    """Ids of the `model` rows matching `due`, locked and leased: `lease` ({column: value}) is written
    to them in this transaction, so the conditions in `due` should exclude a live lease."""
    ids = list(s.scalars(_due_ids(s, model, due, order_by, limit)))
    if ids:
        s.execute(update(model).where(model.id.in_(ids)).values(lease)
                  .execution_options(synchronize_session=False))
    return ids


def claim_rows(s: Session, model, *due, lease: dict, columns, order_by=(), limit: int | None = None) -> list[Row]:
    """`claim` in one statement, for a caller that wants the rows themselves: `columns` of the `model` rows
    matching `due`, leased by an UPDATE whose WHERE takes them FOR UPDATE SKIP LOCKED on PostgreSQL
    (`UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) RETURNING …`: one round trip where the
    select, the lease and a second select were three). The rows come back in no particular order."""
    statement = (update(model).where(model.id.in_(_due_ids(s, model, due, order_by, limit).scalar_subquery()))
                 .values(lease).returning(*columns).execution_options(synchronize_session=False))
    return list(s.execute(statement))


def _due_ids(s: Session, model, due, order_by, limit: int | None):
    """The ids of the due rows, most urgent first, taken FOR UPDATE SKIP LOCKED on PostgreSQL."""
    query = select(model.id).where(*due).order_by(*order_by)
    return skip_locked(query.limit(limit) if limit is not None else query, s)
