"""`herald teams manifest --out FILE.zip`."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import Config


@click.group()
def teams() -> None:
    """The Microsoft Teams bot."""


@teams.command("manifest")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="where to write the app package (a .zip)")
def manifest_command(out: Path) -> None:
    """Build the Teams app package to upload (manifest, colour and outline icons)."""
    from .manifest import package

    try:
        data = package(Config.from_env())
    except ValueError as exc:
        click.echo(f"herald: {exc}", err=True)
        sys.exit(1)
    out.write_bytes(data)
    click.echo(f"wrote {out} ({len(data)} bytes): upload it in Teams (Apps > Manage your apps > Upload an app)")

