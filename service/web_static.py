"""The shared look of Herald's pages: the stylesheet and the site root; the API viewer's assets."""
from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, redirect

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
