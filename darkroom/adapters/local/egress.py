"""Where webhooks may connect: public addresses only, unless an operator allows a network.

A URL given through the API is checked when it is registered and again on every delivery: the
host is resolved and every address must be public (not loopback, private, link-local, shared,
multicast, reserved, unspecified, unique-local, nor one of these inside an IPv4-mapped, 6to4,
Teredo or NAT64 address). The delivery then connects to an address it has just checked (never
to a second lookup's answer), and checks the peer the socket is connected to, so a name that
answers a public address to the check and a private one to the connection (DNS rebinding)
reaches nothing inside.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names that only mean something inside a network (RFC 6761, RFC 8375, cloud metadata hosts).
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")
INTERNAL_NAMES = {"localhost", "metadata", "instance-data"}
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
CARRIER_GRADE_NAT = ipaddress.IPv4Network("100.64.0.0/10")


class EgressRefused(ValueError):
    """A webhook URL or address darkroom will not connect to; the message says why."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to an IPv4 host, if it does."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client: the host the tunnel ends at
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_kind(address: IPAddress) -> str | None:
    """Why an address is not a public unicast one ('loopback', 'private'...), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "scoped"
        inner = _embedded_ipv4(address)
        if inner is not None:
            kind = non_public_kind(inner)
            return f"{kind} (inside {address})" if kind else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),  # 169.254.169.254: cloud metadata
        ("multicast", address.is_multicast),
        ("private", address.is_private),  # 10/8, 172.16/12, 192.168/16, fc00::/7...
        ("shared", isinstance(address, ipaddress.IPv4Address) and address in CARRIER_GRADE_NAT),
        ("reserved", address.is_reserved),
        ("not global", not address.is_global),
    )
    for kind, matched in checks:
        if matched:
            return kind
    return None


@dataclass(frozen=True)
class EgressPolicy:
    """Public HTTPS targets by default; `allow_networks` lets deliberate internal ones through
    (for example ["10.20.0.0/16"], or ["0.0.0.0/0", "::/0"] for every address), and
    `allow_http` plain HTTP."""

    allow_networks: tuple[IPNetwork, ...] = ()
    allow_http: bool = False
    _names_allowed: bool = field(default=False, repr=False)

    @classmethod
    def of(cls, networks: Iterable[str] = (), allow_http: bool = False) -> EgressPolicy:
        parsed: list[IPNetwork] = []
        for item in networks:
            try:
                parsed.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"webhook allow-list: {item!r} is not a network: {exc}") from None
        return cls(tuple(parsed), allow_http, _names_allowed=bool(parsed))

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.allow_networks)

    def refusal(self, address: IPAddress) -> str | None:
        """Why this address may not be connected to, or None when it may."""
        if self.allows_address(address):
            return None
        kind = non_public_kind(address)
        return f"{address} is a {kind} address" if kind else None

    def check_form(self, url: str) -> tuple[str, int]:
        """Refuse a URL by its form alone (scheme, host name); answer its host and port."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in {"http", "https"}:
            raise EgressRefused(f"webhook URLs are http(s), not {scheme or 'schemeless'}")
        if scheme == "http" and not self.allow_http:
            raise EgressRefused("webhook URLs must be https (unless DARKROOM_WEBHOOK_ALLOW_HTTP)")
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise EgressRefused("webhook URL has no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise EgressRefused(f"webhook URL: {exc}") from None
        if not self._names_allowed and _internal_name(host):
            raise EgressRefused(f"{host} is an internal name")
        return host, port

    def check_url(self, url: str) -> list[IPAddress]:
        """Refuse a URL darkroom must not deliver to; answer the addresses its host has now."""
        return self.resolve(*self.check_form(url))

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address the host has (the system resolver, as a connection would use it, so
        '127.1' and '2130706433' are 127.0.0.1); refused unless each one is allowed."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise EgressRefused(f"{host} cannot be resolved ({exc})") from None
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]))  # "fe80::1%eth0" keeps its scope
            if address not in addresses:
                addresses.append(address)
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                raise EgressRefused(f"{host} is not allowed: {reason}")
        if not addresses:
            raise EgressRefused(f"{host} has no address")
        return addresses


def _internal_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return False  # a literal address is judged by the address
    except ValueError:
        pass
    return host in INTERNAL_NAMES or host.endswith(INTERNAL_SUFFIXES) or "." not in host


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects only to addresses the policy allows: resolves, checks, connects to a checked
    address, then checks the socket's peer."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.policy.resolve(host.strip("[]"), port)
        except EgressRefused as exc:
            raise httpcore.ConnectError(f"refused: {exc}") from None
        last: Exception | None = None
        for address in addresses:
            try:
                stream = self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            _check_peer(self.policy, stream)
            return stream
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("refused: webhooks do not use unix sockets")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def _check_peer(policy: EgressPolicy, stream: httpcore.NetworkStream) -> None:
    sock = stream.get_extra_info("socket")
    peer = sock.getpeername()[0] if sock is not None else None
    reason = "no peer address" if peer is None else policy.refusal(ipaddress.ip_address(peer))
    if reason is not None:
        stream.close()
        raise httpcore.ConnectError(f"refused: connected to {reason}")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the guarded network backend, no proxies from the environment (a
    proxy would connect for us, past the check) and no redirects (httpx's client default)."""

    def __init__(
        self,
        policy: EgressPolicy,
        max_connections: int = 20,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(trust_env=False)
        # httpx builds its pool without a way to name the backend; rebuild it with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(policy),
        )


def guarded_client(
    policy: EgressPolicy,
    timeout: float,
    max_connections: int,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.Client:
    """TLS is verified against the URL's host name (its SNI too), whatever address was
    connected to."""
    return httpx.Client(
        transport=GuardedTransport(policy, max_connections, ssl_context),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


def networks_setting(value: str | Sequence[str]) -> list[str]:
    """The allow-list as JSON (a list) or as comma-separated networks."""
    if isinstance(value, str):
        return [item for item in (part.strip() for part in value.split(",")) if item]
    return list(value)
