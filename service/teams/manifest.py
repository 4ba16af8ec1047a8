"""`herald teams manifest --out FILE.zip`: the Teams app package an admin uploads.

`manifest.json` (schema 1.16: the bot with personal and team scopes, the chat commands, valid
domains from HERALD_BASE_URL, webApplicationInfo) and the two icons Teams requires: `color.png`
192×192 and `outline.png` 32×32 white on transparent. The icons are drawn here (a plain PNG
writer), so the package needs nothing but the configuration.
"""
from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from urllib.parse import urlsplit

MANIFEST_SCHEMA = "https://developer.microsoft.com/json-schemas/teams/v1.16/MicrosoftTeams.schema.json"
ACCENT = (0x1F, 0x4E, 0x99)


def manifest(cfg, *, version: str = "1.0.0") -> dict:
    if not cfg.teams_app_id:
        raise ValueError("set HERALD_TEAMS_APP_ID (the bot's Microsoft app id) first")
    base = cfg.base_url.rstrip("/")
    host = urlsplit(base).hostname or "localhost"
    return {
        "$schema": MANIFEST_SCHEMA,
        "manifestVersion": "1.16",
        "version": version,
        "id": cfg.teams_app_id,
        "packageName": "org.herald.incidents",
        "developer": {"name": "Herald", "websiteUrl": base, "privacyUrl": f"{base}/status",
                      "termsOfUseUrl": f"{base}/status"},
        "name": {"short": "Herald", "full": "Herald incident communications"},
        "description": {
            "short": "Pages, acknowledgements and incident updates from Herald",
            "full": "Herald pages the people on call, lets them acknowledge, post updates, resolve and hand over "
                    "roles from the card, and posts stakeholder updates to your incident channel.",
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#%02X%02X%02X" % ACCENT,
        "bots": [{
            "botId": cfg.teams_app_id,
            "scopes": ["personal", "team"],
            "isNotificationOnly": False,
            "supportsFiles": False,
            "commandLists": [{"scopes": ["personal"], "commands": [
                {"title": "ack", "description": "Acknowledge the incidents that wait for you"},
                {"title": "oncall", "description": "Who holds each role now, and who is next"},
                {"title": "help", "description": "What Herald can do"},
            ]}],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [host],
        "webApplicationInfo": {"id": cfg.teams_app_id, "resource": f"api://{host}/{cfg.teams_app_id}"},
    }


def _png(width: int, height: int, pixel) -> bytes:
    """A truecolour+alpha PNG; `pixel(x, y)` gives (r, g, b, a)."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _in_h(x: float, y: float) -> bool:
    """A bold "H" in the unit square."""
    return 0.2 <= y <= 0.8 and (0.22 <= x <= 0.38 or 0.62 <= x <= 0.78 or (0.38 < x < 0.62 and 0.44 <= y <= 0.56))


def color_icon(size: int = 192) -> bytes:
    return _png(size, size, lambda x, y: (255, 255, 255, 255) if _in_h(x / size, y / size) else (*ACCENT, 255))


def outline_icon(size: int = 32) -> bytes:
    return _png(size, size, lambda x, y: (255, 255, 255, 255) if _in_h(x / size, y / size) else (0, 0, 0, 0))


def package(cfg) -> bytes:
    """The zip Teams takes: manifest.json, color.png and outline.png at its root."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest(cfg), indent=2))
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return buffer.getvalue()
