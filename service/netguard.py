"""The address policy for every outbound URL Herald does not own (calendar subscriptions, people's webhooks).

The guard works twice: before each request (and each redirect) the host is resolved and every address
it names must be public; and the socket's actual peer is checked once connected, so a DNS answer that
changes between the check and the connection (rebinding) is caught too. Proxies from the environment
are not used (a proxy would hide the peer). HERALD_ALLOW_PRIVATE_URLS=1 turns the guard off.
Workflows webhook URLs carry their credential in the query (`sig=`): `redact_url` hides it.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class OutboundError(Exception):
    """A URL could not be resolved or reached; the message says why (and never holds a credential)."""


class UnsafeURL(OutboundError):
    """A URL Herald refuses to reach (scheme, credentials, or an address that is not public)."""


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses an outbound request may reach."""

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


def check_url(url: str, policy: AddressPolicy, *, unresolvable_ok: bool = False) -> None:
    """Refuse a URL that is not http(s), carries user:password, or whose host resolves to a forbidden address.

    `unresolvable_ok`: a name that does not resolve now passes (it is checked again when used).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL(f"only http and https URLs are accepted, not {parts.scheme or 'a relative URL'!r}")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeURL("put no credentials in the URL; use a secret address instead")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        if unresolvable_ok and not isinstance(exc, ValueError):
            return
        raise OutboundError(f"cannot resolve {parts.hostname!r}: {exc}") from exc
    for info in infos:
        reason = policy.refusal(info[4][0])
        if reason:
            raise UnsafeURL(f"{parts.hostname} resolves to {reason}; Herald reaches only public addresses "
                            "(set HERALD_ALLOW_PRIVATE_URLS=1 to allow private ones)")


_SECRET_PARAMS = re.compile(r"([?&](?:sig|code|signature|token|key)=)[^&#\s]*", re.IGNORECASE)


def redact_url(url: str | None) -> str | None:
    """`url` with the values of credential-like query parameters (Workflows' `sig=`) replaced."""
    return _SECRET_PARAMS.sub(r"\1REDACTED", url) if url else url


def host_of(url: str) -> str:
    return urlsplit(url).hostname or "?"


class _PeerCheck:
    """Mixed into urllib3's connections: refuse a connected socket whose peer the policy forbids."""

    address_policy: AddressPolicy

    def _new_conn(self):
        sock = super()._new_conn()
        reason = self.address_policy.refusal(sock.getpeername()[0])
        if reason:
            sock.close()
            raise UnsafeURL(f"{self.host} connected to {reason}; Herald reaches only public addresses")
        return sock


class GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: AddressPolicy, **kwargs):
        self.address_policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        checked = {"address_policy": self.address_policy}
        http = type("GuardedHTTPConnection", (_PeerCheck, HTTPConnection), checked)
        https = type("GuardedHTTPSConnection", (_PeerCheck, HTTPSConnection), checked)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


def guarded_session(policy: AddressPolicy) -> requests.Session:
    """A requests session whose every connection is checked against `policy` once connected."""
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: the peer must be the server itself
    adapter = GuardedAdapter(policy, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def unsafe_cause(exc: BaseException) -> UnsafeURL | None:
    """The UnsafeURL a requests exception wraps (the peer check raises inside urllib3), if any."""
    seen = exc
    while seen is not None:
        if isinstance(seen, UnsafeURL):
            return seen
        seen = seen.__context__ or seen.__cause__
    return None
