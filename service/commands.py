"""What every `herald` command shares: the app it runs against.

The `herald` group (`service/cli.py`) keeps its app factory in click's context, so a domain's
commands build the configured app without importing the top of the package.
"""
from __future__ import annotations

import click


def command_app():
    """The configured app for the running `herald` command."""
    return click.get_current_context().find_root().obj()
