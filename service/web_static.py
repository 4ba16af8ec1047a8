"""The shared look of Herald's pages: the stylesheet and the site root."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, redirect

blp = Blueprint(
    "herald_static", __name__,
    static_folder=str(Path(__file__).resolve().parent.parent / "templates" / "web" / "static"),
    static_url_path="/static",
)


@blp.get("/")
def index():
    return redirect("/status")
