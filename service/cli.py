"""The `herald` command line: processes, database, tokens, policy and templates; the domains' own
command groups are listed in `service/wiring.py`."""
from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import click

from .config import Config


def _app():
    from . import create_app

    return create_app(Config.from_env())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Herald: on-call and incident communications over Teams and email."""
    ctx.obj = _app  # the domains' commands build the app through `commands.command_app`
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every tick at INFO; keep its warnings and errors only.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)


# ---- processes -----------------------------------------------------------------------------

def _run_until_signal(app, serve_http: tuple[str, int] | None) -> None:
    """Start ticker (+ inbound mail) and, with `serve_http`, waitress; stop all cleanly on SIGTERM/SIGINT."""
    import gc

    from . import worker
    from .processes import start_background, stop_background

    # What start-up built (modules, the app, templates, the policy) lives as long as the process: move it out of
    # the collector's sight, so that a full collection, which a tick reading every open incident sets off, scans
    # only what was made since (it halved the escalation tick over 1,000 open incidents).
    gc.freeze()
    background = start_background(app)
    stopping = {"flag": False}

    def _stop(signum, _frame):
        if stopping["flag"]:
            return
        stopping["flag"] = True
        click.echo(f"herald: received {signal.Signals(signum).name}, stopping", err=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if serve_http:
            from waitress import create_server

            host, port = serve_http
            server = create_server(app, host=host, port=port, threads=16, ident="herald")
            click.echo(f"herald: serving on http://{host}:{server.effective_port}", err=True)
            server.run()
        else:
            click.echo("herald: worker running (scheduler, dispatcher, inbound mail)", err=True)
            signal.pause()
    except SystemExit:
        pass
    finally:
        stop_background(background)
        worker.install(None)
        click.echo("herald: stopped", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Web API + scheduler + dispatcher (+ inbound SMTP when configured) in one process."""
    from .processes import first_start

    app = _app()
    first_start(app, echo=click.echo)
    _run_until_signal(app, (host, port))


@main.command(name="worker")
def worker_command() -> None:
    """Scheduler + dispatcher (+ inbound SMTP) without the web server."""
    _run_until_signal(_app(), None)


# ---- database ------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command()
def upgrade() -> None:
    """Apply every migration to HERALD_DATABASE_URL."""
    from .migrate import upgrade as do_upgrade

    url = Config.from_env().database_url
    do_upgrade(url)
    click.echo(f"database at {_safe_url(url)} is up to date")


@db.command()
@click.option("-m", "--message", required=True)
def revision(message: str) -> None:
    """(developers) Autogenerate a migration from the models."""
    from .migrate import revision as do_revision

    do_revision(Config.from_env().database_url, message)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# ---- tokens --------------------------------------------------------------------------------

@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["read", "write", "ingest", "admin"]), help="Repeat for several scopes.")
def token_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a token; it is printed once, as the last word of the output."""
    from . import db as database
    from .auth import create_token

    app = _app()
    with app.app_context(), database.transaction() as s:
        secret = create_token(s, name, list(scopes))
    click.echo(f"created token {name!r} with scopes {', '.join(sorted(set(scopes)))}; store it now, it is not shown again:")
    click.echo(secret)


@token.command("list")
def token_list() -> None:
    """List tokens (id, name, scopes, created, revoked); the secrets themselves are not stored."""
    from . import db as database
    from .auth import list_tokens

    app = _app()
    with app.app_context(), database.transaction() as s:
        rows = [(str(t.id), t.name, ",".join(t.scopes), _when(t.created_at), _when(t.revoked_at) or "-")
                for t in list_tokens(s)]
    if not rows:
        click.echo("no tokens (HERALD_ADMIN_TOKEN, when set, is not stored and cannot be listed)")
        return
    header = ("ID", "NAME", "SCOPES", "CREATED", "REVOKED")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@token.command("revoke")
@click.argument("ref", metavar="ID_OR_NAME")
def token_revoke(ref: str) -> None:
    """Revoke a token by id (or by name, when one active token has it); it stops working at once."""
    from . import db as database
    from .auth import TokenNotFound, find_token, revoke_token

    app = _app()
    try:
        with app.app_context(), database.transaction() as s:
            row = find_token(s, ref)
            changed = revoke_token(s, row)
            name, token_id, revoked_at = row.name, row.id, row.revoked_at
    except TokenNotFound as exc:
        click.echo(f"herald: {exc}", err=True)
        sys.exit(1)
    if changed:
        click.echo(f"revoked token {token_id} ({name!r})")
    else:
        click.echo(f"token {token_id} ({name!r}) was already revoked at {_when(revoked_at)}")


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else ""


# ---- policy --------------------------------------------------------------------------------

@main.group()
def policy() -> None:
    """The policy file."""


@policy.command("check")
@click.argument("file", required=False)
def policy_check(file: str | None) -> None:
    """Validate a policy file; list every error and exit 1 when there is one."""
    from .policy import PolicyError, load_policy
    from .policy.loader import unresolved_rotations

    path = file or Config.from_env().policy_path
    try:
        loaded = load_policy(path)
        errors = unresolved_rotations(loaded, _known_rotations(Path(path).resolve().parent))
    except PolicyError as exc:
        errors = exc.errors
    if errors:
        click.echo(f"{path}: {len(errors)} error(s)", err=True)
        for key, message in errors:
            click.echo(f"  {key or '(file)'}: {message}", err=True)
        sys.exit(1)
    click.echo(
        f"{path}: ok — {len(loaded.severities)} severities, {len(loaded.roles)} roles, "
        f"{len(loaded.contacts)} contacts, {len(loaded.escalations)} escalation rules"
    )


def _known_rotations(folder: Path) -> set[str]:
    """Rotations that exist: example calendars beside the policy, and the database's (when it answers)."""
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.exc import SQLAlchemyError

    known = {p.stem for p in folder.glob("*.ics")}
    url = make_url(Config.from_env().database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return known  # checking must not create a database file
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            known |= set(connection.execute(text("SELECT name FROM rotations")).scalars())
    except SQLAlchemyError:
        pass  # no database (yet): the calendars beside the policy are all there is to check against
    finally:
        engine.dispose()
    return known


# ---- templates -----------------------------------------------------------------------------

@main.group()
def templates() -> None:
    """Message templates (templates/, overridden by HERALD_TEMPLATES)."""


@templates.command("check")
def check() -> None:
    """Render every template against sample data; exit 1 on any error."""
    from . import clock
    from .notify.samples import check_templates
    from .notify.templates import Renderer
    from .policy import PolicyError, load_policy
    from .reviews import draft
    from .wiring import SAMPLE_CONTEXTS
    from .web.public import check_public_templates

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
    results = check_templates(renderer, policy, cfg.base_url, clock.now(), extra=SAMPLE_CONTEXTS)
    results += check_public_templates(cfg.templates_dir, policy, clock.now())  # the status page's texts
    results.append((draft.TEMPLATE, draft.check(cfg.templates_dir, clock.now())))  # the post-mortem draft
    results += _check_bot_cards(cfg, policy, clock.now())  # the Teams bot's cards
    failures = [(name, problem) for name, problem in results if problem]
    for name, problem in results:
        click.echo(f"ok    {name}" if problem is None else f"FAIL  {name}: {problem}")
    where = f" (overrides from {renderer.override_dir})" if renderer.has_overrides else ""
    if failures:
        click.echo(f"{len(failures)} of {len(results)} template(s) failed{where}", err=True)
        sys.exit(1)
    click.echo(f"all {len(results)} templates render{where}")


def _check_bot_cards(cfg, policy, now) -> list:
    """The Teams bot's cards, drawn as the bot draws them (it reads the configuration and policy at run time)."""
    from .runtime import runtime
    from .teams.cards import check_bot_templates

    runtime.config, runtime.policy = runtime.config or cfg, runtime.policy or policy
    return check_bot_templates(now)


# ---- the domains' command groups ------------------------------------------------------------

from .wiring import CLI_COMMANDS  # noqa: E402

for _command in CLI_COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":
    main()
