"""GET /api/incidents/<id>/escalations: each escalation step, whom it reached and who acknowledged it."""
from __future__ import annotations

from flask_smorest import Blueprint

from ..auth import require_scope
from ..db import session
from ..incidents.views import incident_or_404
from . import steps
from .schemas import EscalationOut

blp = Blueprint("escalations", __name__, url_prefix="/api/incidents",
                description="Escalations: each step of the matrix's chains and its acknowledgements")


@blp.route("/<ident>/escalations", methods=["GET"])
@require_scope("read")
@blp.response(200, EscalationOut(many=True))
def escalations(ident):
    """Every escalation step sent for the incident, oldest first, with its recipients."""
    return steps.listing(session, incident_or_404(ident).id)
