"""What every HTML page shares (the status page, the board, the ack link): the stylesheet, the site root
and the security headers."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect

SECURITY_HEADERS = {
    # Scripts and styles only from our own static files: no inline code, nothing third-party.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


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
