"""The reports API: thin, parse -> read -> dump."""
from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from ..auth import require_scope
from ..db import session
from ..errors import unprocessable
from .schemas import HoursArgs, HoursOut
from ..runtime import holidays, policy
from .oncall_hours import ReportRangeError, as_csv, hours_report

blp = Blueprint("reports", __name__, url_prefix="/api", description="Reports: on-call hours for pay and fairness")


@blp.route("/reports/oncall-hours", methods=["GET"])
@require_scope("read")
@blp.arguments(HoursArgs, location="query")
@blp.response(200, HoursOut(many=True))
@blp.alt_response(200, description="with format=csv: text/csv, a header row, one row per person and rotation",
                  content_type="text/csv")
def oncall_hours(args):
    """Per person and rotation: hours on call (business, after hours, weekend, holiday) and pages received
    (and those between 22:00 and 07:00 in the person's own zone) between `from` and `to` (at most 400 days)."""
    try:
        rows = hours_report(session, policy(), holidays(), args["from_"], args["to"], args["rotation"])
    except ReportRangeError as exc:
        raise unprocessable({"to" if "days" in str(exc) else "rotation": [str(exc)]}, str(exc)) from exc
    if args["format"] == "csv":
        return Response(as_csv(rows), mimetype="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="oncall-hours.csv"'})
    return rows
