"""Claiming due work so that several workers never take the same row.

Due rows are selected `FOR UPDATE SKIP LOCKED` on PostgreSQL (a row another worker holds is passed
over, not waited for); SQLite has one writer at a time (`BEGIN IMMEDIATE`), which serialises instead.
A lease (a column moved ahead in the same transaction) keeps the row taken after the commit: work
that dies is picked up again when the lease runs out.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import db


def skip_locked(query, s: Session):
    """`query` locking its rows FOR UPDATE SKIP LOCKED on PostgreSQL (unchanged on SQLite)."""
    return query.with_for_update(skip_locked=True) if db.is_postgres(s) else query


def claim(s: Session, model, *due, lease: dict, order_by=(), limit: int | None = None) -> list[int]:
    """Ids of the `model` rows matching `due`, locked and leased: `lease` ({column: value}) is written
    to them in this transaction, so the conditions in `due` should exclude a live lease."""
    query = select(model.id).where(*due).order_by(*order_by)
    if limit is not None:
        query = query.limit(limit)
    ids = list(s.scalars(skip_locked(query, s)))
    if ids:
        s.execute(update(model).where(model.id.in_(ids)).values(lease)
                  .execution_options(synchronize_session=False))
    return ids
