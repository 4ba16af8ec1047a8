"""Herald: the incident response guide, running by itself.

`create_app` builds the app; what reacts to what is listed in `service/wiring.py`.
"""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, jsonify, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from . import clock as clock_module
from . import db
from .config import Config
from .errors import ApiError, RuleError, error_body
from .inputs import MAX_ID, check_json_body
from .schemas import ErrorSchema, validators_in_openapi
from .policy import load_policy
from .rotations.holidays import load_holidays
from .runtime import runtime
from .wiring import wire

log = logging.getLogger("herald")

JSON_PREFIXES = ("/api", "/v2", "/openapi")


class HeraldApi(Api):
    """flask-smorest with Herald's single error shape {"code", "message", "errors"}."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        if not request.path.startswith(JSON_PREFIXES):
            return error
        status = error.code or 500
        errors = {}
        message = error.description if isinstance(error.description, str) else None
        data = getattr(error, "data", None) or {}
        messages = data.get("messages") if isinstance(data, dict) else None
        if messages:
            errors = _flatten_locations(messages)
            if status == 400:
                message = "malformed request body: " + "; ".join(_leaf_messages(errors)) if errors else message
            elif status == 422:
                message = "the request has invalid fields"
        body = error_body(status, message, errors)
        return jsonify(body), status, _kept_headers(error)


def _flatten_locations(messages: dict) -> dict:
    """webargs nests errors by location ({"json": {...}, "query": {...}}); clients want fields."""
    flat: dict = {}
    for location, value in messages.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[location] = value
    return flat


def _leaf_messages(errors: dict) -> list[str]:
    out = []
    for value in errors.values():
        if isinstance(value, dict):
            out.extend(_leaf_messages(value))
        elif isinstance(value, list):
            out.extend(str(v) for v in value)
        else:
            out.append(str(value))
    return out


def _kept_headers(error: HTTPException) -> dict:
    """The exception's own headers (405's `Allow`, 401's `WWW-Authenticate`…) and `Retry-After`."""
    kept = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    retry = getattr(error, "retry_after", None)
    if retry:
        kept["Retry-After"] = str(retry)
    return kept


class IdConverter(IntegerConverter):
    """`<int:…>` in routes: ids fit the database's integer columns (PostgreSQL's `integer` holds 2^31-1),
    so a larger number matches no route (404) instead of overflowing the query; documented as `maximum`."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


class IdConverter(IntegerConverter):
    """`<int:…>` for ids: ASCII digits up to 2^31 - 1 (PostgreSQL's integer; SQLite's is wider)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def create_app(config: Config | None = None, *, clock=None) -> Flask:
    config = config or Config.from_env()
    if clock is not None:
        clock_module.install(clock)
    policy = load_policy(config.policy_path)
    runtime.config = config
    runtime.policy = policy
    runtime.holidays = load_holidays(policy.business_hours.holidays_file, policy.timezone)

    # No app-level static route: it would shadow /static of the web pages' blueprint (web_static.py).
    app = Flask(__name__, static_folder=None,
                template_folder=str(Path(__file__).resolve().parent.parent / "templates" / "web"))
    app.url_map.converters["int"] = IdConverter
    app.config.update(
        HERALD=config,
        SECRET_KEY=config.resolve_secret_key(),
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        JSON_SORT_KEYS=False,
        API_TITLE="Herald",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        # Swagger UI from the flask-swagger-ui package's assets (web_static.docs_assets): no CDN, works offline.
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None, "deepLinking": True},
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "info": {"description": "Herald: on-call and incident communications over Teams and email."},
        },
    )
    # Before any route is added: an id in a path beyond what a database integer holds is a 404.
    app.url_map.converters["int"] = IdConverter
    db.init_engine(config.database_url)
    api = HeraldApi(app)
    api.ma_plugin.converter.add_attribute_function(validators_in_openapi)
    wire(app, api)
    _register_errors(app)

    @app.before_request
    def _session_intent():
        db.mark_request_session(request.method)

    app.before_request(check_json_body)

    @app.teardown_appcontext
    def _remove_session(_exc):
        db.session.remove()

    return app


def _register_errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        db.session.rollback()
        return jsonify(error.as_json()), error.status

    @app.errorhandler(RuleError)
    def _rule_error(error: RuleError):
        """The one place a broken rule becomes 409 (nothing kept); any other exception is a 500."""
        db.session.rollback()
        return jsonify(ApiError(409, "conflict", str(error)).as_json()), 409

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return error
        if db.outage.noted(error, f"{request.method} {request.path}"):  # logged once per outage
            _rollback_quietly()
            headers = {"Retry-After": str(db.Outage.RETRY_AFTER)}
            if request.path.startswith(JSON_PREFIXES):
                return jsonify(error_body(503, "the database is unavailable; try again shortly")), 503, headers
            return "The database is unavailable; try again shortly.", 503, headers
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if request.path.startswith(JSON_PREFIXES):
            return jsonify(error_body(500, "internal error; it has been logged")), 500
        return "Internal error; it has been logged.", 500


def _rollback_quietly() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection is gone: nothing to roll back
        db.session.remove()
