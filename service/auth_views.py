"""`/api/tokens`: list and revoke API tokens (admin). Creating one stays on the command line,
where the secret is printed once and never travels through a proxy's logs."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from .auth import TokenNotFound, find_token, list_tokens, require_scope, revoke_token
from .db import session
from .errors import not_found
from .schemas import AwareDateTime, PageArgs

blp = Blueprint("tokens", __name__, url_prefix="/api/tokens", description="API tokens (admin)")


class TokenOut(Schema):
    id = fields.Integer()
    name = fields.String()
    scopes = fields.List(fields.String())
    created_at = AwareDateTime()
    revoked_at = AwareDateTime(allow_none=True)


@blp.route("", methods=["GET"])
@require_scope("admin")
@blp.arguments(PageArgs, location="query")
@blp.response(200, TokenOut(many=True))
def get_tokens(page):
    """Every token, oldest first, revoked ones included; never the secret (only its hash is stored)."""
    return list_tokens(session(), page["limit"], page["offset"])


@blp.route("/<int:token_id>", methods=["DELETE"])
@require_scope("admin")
@blp.response(204)
def delete_token(token_id):
    """Revoke a token at once; revoking a revoked token changes nothing."""
    try:
        token = find_token(session(), token_id)
    except TokenNotFound:
        raise not_found(f"token {token_id}") from None
    revoke_token(session(), token)
    session.commit()
