"""Configuration from the environment (the variables are listed in the README)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_var_dir() -> Path:
    return Path(os.environ.get("HERALD_VAR_DIR", "var"))


@dataclass
class Config:
    database_url: str = "sqlite:///var/herald.db"
    policy_path: str = "schedules/policy.toml"
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8080"
    admin_token: str | None = None
    tick_seconds: float = 1.0
    teams_webhook_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "herald@localhost"
    reply_address: str | None = None
    inbound_smtp: str | None = None
    graph_tenant_id: str | None = None
    graph_client_id: str | None = None
    graph_client_secret: str | None = None
    graph_mailbox: str | None = None
    graph_authority: str | None = None
    graph_url: str = "https://graph.microsoft.com/v1.0"
    allow_private_urls: bool = False
    templates_dir: str | None = None
    dispatch_threads: int = 8
    dispatch_lease_seconds: float = 60.0
    max_body_bytes: int = 1024 * 1024
    ingest_rate: float = 50.0  # monitoring requests per second, per token (token bucket refill)
    ingest_burst: int = 500  # bucket size: how many a token may send at once
    calendar_seconds: float = 20.0  # wall-clock budget of one calendar's expansion
    teams_app_id: str | None = None  # the Teams bot (CONTRACT §6): on when app id, password and tenant are set
    teams_app_password: str | None = None
    teams_tenant_id: str | None = None
    teams_authority: str = "https://login.microsoftonline.com"
    teams_openid_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    teams_service_url: str = "https://smba.trafficmanager.net/teams/"
    teams_channel: str | None = None
    teams_team_id: str | None = None  # war rooms: channels are created in this team (Graph)
    teams_meeting_organizer: str | None = None  # war rooms: the bridge is this user's online meeting
    oidc_tenant_id: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_authority: str = "https://login.microsoftonline.com"
    oidc_admin_group: str | None = None  # an Entra group object id whose members are console admins
    admins: tuple[str, ...] = ()  # person handles with admin rights in the console
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Config":
        env = dict(os.environ if env is None else env)
        get = env.get
        tenant = get("HERALD_GRAPH_TENANT_ID")
        return cls(
            database_url=get("HERALD_DATABASE_URL", "sqlite:///var/herald.db"),
            policy_path=get("HERALD_POLICY", "schedules/policy.toml"),
            secret_key=get("HERALD_SECRET_KEY") or "",
            base_url=get("HERALD_BASE_URL", "http://127.0.0.1:8080").rstrip("/"),
            admin_token=get("HERALD_ADMIN_TOKEN") or None,
            tick_seconds=float(get("HERALD_TICK_SECONDS", "1")),
            teams_webhook_url=get("HERALD_TEAMS_WEBHOOK_URL") or None,
            smtp_url=get("HERALD_SMTP_URL") or None,
            mail_from=get("HERALD_MAIL_FROM", "herald@localhost"),
            reply_address=get("HERALD_REPLY_ADDRESS") or None,
            inbound_smtp=get("HERALD_INBOUND_SMTP") or None,
            graph_tenant_id=tenant,
            graph_client_id=get("HERALD_GRAPH_CLIENT_ID") or None,
            graph_client_secret=get("HERALD_GRAPH_CLIENT_SECRET") or None,
            graph_mailbox=get("HERALD_GRAPH_MAILBOX") or None,
            graph_authority=get("HERALD_GRAPH_AUTHORITY")
            or (f"https://login.microsoftonline.com/{tenant}" if tenant else None),
            graph_url=get("HERALD_GRAPH_URL", "https://graph.microsoft.com/v1.0").rstrip("/"),
            allow_private_urls=get("HERALD_ALLOW_PRIVATE_URLS", "0") in ("1", "true", "yes"),
            templates_dir=get("HERALD_TEMPLATES") or None,
            dispatch_threads=int(get("HERALD_DISPATCH_THREADS", "8")),
            dispatch_lease_seconds=float(get("HERALD_DISPATCH_LEASE_SECONDS", "60")),
            ingest_rate=float(get("HERALD_INGEST_RATE", "50")),
            ingest_burst=int(get("HERALD_INGEST_BURST", "500")),
            calendar_seconds=float(get("HERALD_CALENDAR_SECONDS", "20")),
            teams_app_id=get("HERALD_TEAMS_APP_ID") or None,
            teams_app_password=get("HERALD_TEAMS_APP_PASSWORD") or None,
            teams_tenant_id=get("HERALD_TEAMS_TENANT_ID") or None,
            teams_authority=(get("HERALD_TEAMS_AUTHORITY") or "https://login.microsoftonline.com").rstrip("/"),
            teams_openid_url=get("HERALD_TEAMS_OPENID_URL")
            or "https://login.botframework.com/v1/.well-known/openidconfiguration",
            teams_service_url=get("HERALD_TEAMS_SERVICE_URL") or "https://smba.trafficmanager.net/teams/",
            teams_channel=get("HERALD_TEAMS_CHANNEL") or None,
            teams_team_id=get("HERALD_TEAMS_TEAM_ID") or None,
            teams_meeting_organizer=get("HERALD_TEAMS_MEETING_ORGANIZER") or None,
            oidc_tenant_id=get("HERALD_OIDC_TENANT_ID") or None,
            oidc_client_id=get("HERALD_OIDC_CLIENT_ID") or None,
            oidc_client_secret=get("HERALD_OIDC_CLIENT_SECRET") or None,
            oidc_authority=(get("HERALD_OIDC_AUTHORITY") or "https://login.microsoftonline.com").rstrip("/"),
            oidc_admin_group=get("HERALD_OIDC_ADMIN_GROUP") or None,
            admins=tuple(h for h in (get("HERALD_ADMINS") or "").replace(",", " ").split() if h),
        )

    @property
    def graph_configured(self) -> bool:
        return bool(self.graph_tenant_id and self.graph_client_id and self.graph_client_secret and self.graph_mailbox)

    @property
    def teams_bot_configured(self) -> bool:
        """The two-way Teams bot is on when its app id, password and tenant are all set."""
        return bool(self.teams_app_id and self.teams_app_password and self.teams_tenant_id)
    def oidc_configured(self) -> bool:
        return bool(self.oidc_tenant_id and self.oidc_client_id and self.oidc_client_secret)

    def resolve_secret_key(self) -> str:
        """HERALD_SECRET_KEY, else a key generated once into var/secret_key."""
        if self.secret_key:
            return self.secret_key
        path = _default_var_dir() / "secret_key"
        if path.exists():
            self.secret_key = path.read_text().strip()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.secret_key = secrets.token_urlsafe(48)
            path.write_text(self.secret_key)
            path.chmod(0o600)
        return self.secret_key
