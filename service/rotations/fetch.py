"""Fetch a subscribed calendar: conditional GET, a User-Agent, timeouts, a size cap and an SSRF guard.

The guard works twice: before each request (and each redirect) the host is resolved and every address
it names must be public; and the socket's actual peer is checked once connected, so a DNS answer that
changes between the check and the connection (rebinding) is caught too. Proxies from the environment
are not used (a proxy would hide the peer). HERALD_ALLOW_PRIVATE_URLS=1 turns the guard off.
"""
from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .calendar import MAX_CALENDAR_BYTES

USER_AGENT = "Herald/0.1 (on-call calendar subscription)"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
TOTAL_TIMEOUT = 60.0
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(Exception):
    """The calendar could not be fetched; the message says why, for `last_error`."""


class UnsafeURL(FetchError):
    """A URL Herald refuses to fetch (scheme, or an address that is not public)."""


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a subscription may reach."""

    allow_private: bool = False

    def refusal(self, ip: str) -> str | None:
        """Why `ip` may not be reached, or None when it may."""
        if self.allow_private:
            return None
        address = ipaddress.ip_address(ip.split("%", 1)[0])
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        # Most specific first: Python counts link-local and reserved ranges as private too.
        for attribute, word in (("is_loopback", "loopback"), ("is_link_local", "link-local"),
                                ("is_multicast", "multicast"), ("is_reserved", "reserved"),
                                ("is_unspecified", "unspecified"), ("is_private", "private")):
            if getattr(address, attribute):
                return f"a {word} address ({address})"
        if not address.is_global:
            return f"a non-public address ({address})"
        return None


@dataclass(frozen=True)
class Fetched:
    status: int  # 200 or 304
    body: bytes = b""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""


def check_url(url: str, policy: AddressPolicy) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to an address the policy forbids."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL(f"only http and https URLs can be subscribed, not {parts.scheme or 'a relative URL'!r}")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeURL("put no credentials in the URL; use a secret calendar address instead")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise FetchError(f"cannot resolve {parts.hostname!r}: {exc}") from exc
    for info in infos:
        reason = policy.refusal(info[4][0])
        if reason:
            raise UnsafeURL(f"{parts.hostname} resolves to {reason}; Herald fetches only public addresses "
                            "(set HERALD_ALLOW_PRIVATE_URLS=1 to allow private ones)")


def fetch_calendar(url: str, policy: AddressPolicy, *, etag: str | None = None, last_modified: str | None = None,
                   max_bytes: int = MAX_CALENDAR_BYTES) -> Fetched:
    headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, text/plain;q=0.8, */*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + TOTAL_TIMEOUT
    with _session(policy) as session:
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


class _PeerCheck:
    """Mixed into urllib3's connections: refuse a connected socket whose peer the policy forbids."""

    address_policy: AddressPolicy

    def _new_conn(self):
        sock = super()._new_conn()
        reason = self.address_policy.refusal(sock.getpeername()[0])
        if reason:
            sock.close()
            raise UnsafeURL(f"{self.host} connected to {reason}; Herald fetches only public addresses")
        return sock


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: AddressPolicy):
        self.address_policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        checked = {"address_policy": self.address_policy}
        http = type("GuardedHTTPConnection", (_PeerCheck, HTTPConnection), checked)
        https = type("GuardedHTTPSConnection", (_PeerCheck, HTTPSConnection), checked)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


def _session(policy: AddressPolicy) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: the peer must be the server itself
    adapter = _GuardedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
