"""`GET /api/health`: database and scheduler state, without a token (for load balancers and monitors)."""
from __future__ import annotations

import logging

from flask import current_app, jsonify
from flask_smorest import Blueprint
from sqlalchemy import text

from . import clock, db
from .worker import scheduler_state

log = logging.getLogger("herald.health")

blp = Blueprint("health", __name__, url_prefix="/api", description="Service health")


@blp.route("/health", methods=["GET"])
@blp.doc(responses={200: {"description": "database reachable"}, 503: {"description": "database unreachable"}})
def health():
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # health must answer even when the database does not
        if not db.outage.noted(exc, "health"):
            log.warning("health: database unreachable: %s", exc)
        database = "unreachable"
        db.session.rollback()
    tick_seconds = current_app.config["HERALD"].tick_seconds
    scheduler = scheduler_state(tick_seconds) if database == "ok" else {"status": "unknown"}
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "scheduler": scheduler,
        "time": clock.now().isoformat().replace("+00:00", "Z"),
    }
    return jsonify(body), (200 if database == "ok" else 503)
