"""`herald templates check`: render every message template against sample data."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..cli import register
from ..config import Config


@click.group()
def templates() -> None:
    """Message templates (templates/, overridden by HERALD_TEMPLATES)."""


@templates.command("check")
def check() -> None:
    """Render every template against sample data; exit 1 on any error."""
    from .. import clock
    from ..policy import PolicyError, load_policy
    from ..reviews import draft, reminders, review  # noqa: F401  (register the invitation and reminders samples)
    from ..web.public import check_public_templates
    from .samples import check_templates
    from .templates import Renderer

    cfg = Config.from_env()
    try:
        policy = load_policy(cfg.policy_path)
    except PolicyError as exc:
        click.echo(f"{cfg.policy_path}: the policy is invalid, run `herald policy check`:\n{exc}", err=True)
        sys.exit(1)
    if cfg.templates_dir and not Path(cfg.templates_dir).is_dir():
        click.echo(f"HERALD_TEMPLATES={cfg.templates_dir}: no such folder", err=True)
        sys.exit(1)
    renderer = Renderer(cfg.templates_dir)
    results = check_templates(renderer, policy, cfg.base_url, clock.now())
    results += check_public_templates(cfg.templates_dir, policy, clock.now())  # the status page's texts
    results.append((draft.TEMPLATE, draft.check(cfg.templates_dir, clock.now())))  # the post-mortem draft
    failures = [(name, problem) for name, problem in results if problem]
    for name, problem in results:
        click.echo(f"ok    {name}" if problem is None else f"FAIL  {name}: {problem}")
    where = f" (overrides from {renderer.override_dir})" if renderer.has_overrides else ""
    if failures:
        click.echo(f"{len(failures)} of {len(results)} template(s) failed{where}", err=True)
        sys.exit(1)
    click.echo(f"all {len(results)} templates render{where}")


register(templates)
