"""What every HTML page shares (the status page, the board, the ack link): the stylesheet, the site root
and the security headers; and the API viewer's assets."""
from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, redirect

SECURITY_HEADERS = {
    # Scripts and styles only from our own static files: no inline code, nothing third-party.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def private(response: Response) -> Response:
    """For pages whose URL holds a credential (ack and swap links): never cached, indexed or referred."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token in the URL must not leak to other sites
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return secure(response)


def secure(response: Response) -> Response:
    """The pages' policy, unless the view set its own: no framing, own scripts only."""
    for header, value in SECURITY_HEADERS.items():
        response.headers.setdefault(header, value)
    return response

blp = Blueprint(
    "herald_static", __name__,
    static_folder=str(Path(__file__).resolve().parent.parent / "templates" / "web" / "static"),
    static_url_path="/static",
)


@blp.get("/")
def index():
    return redirect("/status")


# `/docs` (flask-smorest's Swagger UI page) loads its script and stylesheet from here, out of the
# flask-swagger-ui package, so the API viewer works without reaching a CDN.
docs_assets = Blueprint(
    "docs_assets", __name__,
    static_folder=str(Path(flask_swagger_ui.__file__).resolve().parent / "dist"),
    static_url_path="/docs/assets",
)
