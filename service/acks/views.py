"""POST /api/inbound/email: a raw reply from a provider's inbound-parse webhook, the same as one over SMTP."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from ..auth import require_scope
from ..db import session
from ..errors import ApiError
from .inbound import NotAMessage, act, read
from .schemas import ReceivedOut
from .smtp import MAX_MESSAGE_BYTES

blp = Blueprint("inbound", __name__, url_prefix="/api/inbound", description="Replies to pages, from outside")

# An RFC 822 message starts with a header field ("Name: value").
RFC822_BODY = {"required": True, "content": {"message/rfc822": {"schema": {"type": "string",
                                                                          "pattern": "^[!-9;-~]+:"}}}}


@blp.route("/email", methods=["POST"])
@require_scope("ingest")
@blp.doc(requestBody=RFC822_BODY)
@blp.response(200, ReceivedOut)
def inbound_email():
    """Process one raw RFC 822 message (Content-Type: message/rfc822); a repeat of a message changes nothing."""
    if request.mimetype != "message/rfc822":
        raise ApiError(415, "unsupported_media_type", "send the raw message with Content-Type: message/rfc822")
    request.max_content_length = MAX_MESSAGE_BYTES
    try:  # parsed before the first statement: the write transaction begins only once it is read
        incoming = read(request.get_data(cache=False))
    except NotAMessage as exc:
        raise ApiError(400, "bad_request", str(exc)) from exc
    result = act(session, incoming, source="api")
    session.commit()
    return result
