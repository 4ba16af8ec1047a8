"""Fetch a subscribed calendar: conditional GET, a User-Agent, timeouts, a size cap and the SSRF guard
of `service/netguard.py` (checked before each request and redirect, and on the connected socket).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

from ..netguard import AddressPolicy, OutboundError, UnsafeURL, check_url, guarded_session
from .calendar import MAX_CALENDAR_BYTES

__all__ = ["AddressPolicy", "FetchError", "Fetched", "UnsafeURL", "check_url", "fetch_calendar"]

USER_AGENT = "Herald/0.1 (on-call calendar subscription)"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
TOTAL_TIMEOUT = 60.0
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


FetchError = OutboundError  # the calendar could not be fetched; the message says why, for `last_error`


@dataclass(frozen=True)
class Fetched:
    status: int  # 200 or 304
    body: bytes = b""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""


def fetch_calendar(url: str, policy: AddressPolicy, *, etag: str | None = None, last_modified: str | None = None,
                   max_bytes: int = MAX_CALENDAR_BYTES) -> Fetched:
    headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, text/plain;q=0.8, */*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + TOTAL_TIMEOUT
    with guarded_session(policy) as session:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, policy)
            try:
                response = session.get(url, headers=headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                                       allow_redirects=False, stream=True)
            except requests.Timeout as exc:
                raise FetchError(f"{_host(url)} did not answer within {READ_TIMEOUT:g}s") from exc
            except requests.RequestException as exc:
                raise FetchError(f"cannot connect to {_host(url)}: {_reason(exc)}") from exc
            with response:
                if response.status_code in REDIRECTS and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status_code == 304:
                    return Fetched(304, etag=response.headers.get("ETag", etag),
                                   last_modified=response.headers.get("Last-Modified", last_modified), url=url)
                if response.status_code != 200:
                    status = f"{response.status_code} {response.reason or ''}".strip()
                    raise FetchError(f"{_host(url)} answered HTTP {status}")
                body = _read_capped(response, max_bytes, deadline)
                return Fetched(200, body, _charset(response), response.headers.get("ETag"),
                               response.headers.get("Last-Modified"), url)
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def _read_capped(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"the calendar is {int(declared):,} bytes; at most {max_bytes:,} are accepted")
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(64 * 1024):  # decoded: a gzip bomb hits the cap too
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"the calendar is larger than {max_bytes:,} bytes")
            if time.monotonic() > deadline:
                raise FetchError(f"fetching took longer than {TOTAL_TIMEOUT:g}s")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise FetchError(f"reading from {_host(response.url)} failed: {_reason(exc)}") from exc
    return b"".join(chunks)


def _charset(response: requests.Response) -> str | None:
    content_type = response.headers.get("Content-Type", "")
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return None


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _reason(exc: Exception) -> str:
    while exc.__context__ is not None and not isinstance(exc, UnsafeURL):
        exc = exc.__context__
    return str(exc) or type(exc).__name__
