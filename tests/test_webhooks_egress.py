"""Webhooks reach public addresses only (issue #13 item 11): refused at registration, again at
delivery time, and at the connection itself, so DNS rebinding reaches nothing inside."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx
import pytest

from darkroom.adapters.local import egress
from darkroom.adapters.local.egress import EgressPolicy, EgressRefused, non_public_kind
from darkroom.settings import WebhookSettings
from tests.receiver import Receiver

INSIDE = [
    "127.0.0.1",
    "0.0.0.0",
    "::1",
    "::",
    "169.254.169.254",  # cloud metadata
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "224.0.0.1",
    "240.0.0.1",
    "fd00::1",
    "fe80::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "::127.0.0.1",
]
OUTSIDE = ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"]

# What the attack on issue #13 registered, each as http and as https.
REFUSED_HOSTS = [
    "127.0.0.1",
    "localhost",
    "0.0.0.0",
    "127.1",
    "2130706433",
    "0x7f.1",
    "[::1]",
    "169.254.169.254",
    "10.0.0.7",
    "192.168.1.20",
    "[fd00::1]",
    "[::ffff:127.0.0.1]",
    "metadata.google.internal",
    "metadata",
    "printer.local",
]


@pytest.mark.parametrize("address", INSIDE)
def test_addresses_inside_are_not_public(address: str) -> None:
    assert non_public_kind(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", OUTSIDE)
def test_public_addresses_are(address: str) -> None:
    assert non_public_kind(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_urls_inside_are_refused_by_default(host: str, scheme: str) -> None:
    with pytest.raises(EgressRefused):
        EgressPolicy().check_url(f"{scheme}://{host}:8080/hook")


def test_public_https_passes_and_http_needs_allowing() -> None:
    policy = EgressPolicy()
    assert policy.check_url("https://93.184.216.34/hook") == [ipaddress.ip_address("93.184.216.34")]
    with pytest.raises(EgressRefused, match="https"):
        policy.check_url("http://93.184.216.34/hook")
    with pytest.raises(EgressRefused, match="http"):
        policy.check_url("ftp://93.184.216.34/hook")
    assert EgressPolicy.of(allow_http=True).check_url("http://93.184.216.34/hook")


def test_the_allow_list_lets_chosen_networks_through_and_no_others() -> None:
    policy = EgressPolicy.of(["127.0.0.0/8"], allow_http=True)
    assert policy.check_url("http://127.0.0.1:9/hook")
    assert policy.check_url("http://localhost:9/hook")  # names are judged by their address
    for host in ["10.0.0.7", "169.254.169.254", "[::1]"]:
        with pytest.raises(EgressRefused):
            policy.check_url(f"http://{host}/hook")


def test_the_allow_list_setting_takes_json_or_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DARKROOM_WEBHOOK_ALLOW_NETWORKS", "10.0.0.0/8, fd00::/8")
    assert WebhookSettings().allow_networks == ["10.0.0.0/8", "fd00::/8"]
    monkeypatch.setenv("DARKROOM_WEBHOOK_ALLOW_NETWORKS", '["127.0.0.1/32"]')
    assert WebhookSettings().allow_networks == ["127.0.0.1/32"]
    monkeypatch.setenv("DARKROOM_WEBHOOK_ALLOW_NETWORKS", "10.0.0.0/33")
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        WebhookSettings()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _answers(addresses: list[list[str]]) -> Any:
    """A resolver that answers `rebind.example` with each list in turn (then the last one),
    and everything else as the system does."""
    real = socket.getaddrinfo
    calls = {"n": 0}

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        answer = addresses[min(calls["n"], len(addresses) - 1)]
        calls["n"] += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answer]

    return fake


def test_dns_rebinding_is_refused_at_the_connection(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check sees a public address, the connection's own lookup the loopback one: the
    guarded transport refuses, and the receiver on loopback gets nothing."""
    monkeypatch.setattr(socket, "getaddrinfo", _answers([["93.184.216.34"], ["127.0.0.1"]]))
    policy = EgressPolicy.of(allow_http=True)
    url = receiver.url.replace("127.0.0.1", "rebind.example")
    assert policy.check_url(url)  # first answer: public
    with egress.guarded_client(policy, 5, 2) as client, pytest.raises(httpx.ConnectError) as err:
        client.post(url, content=b"{}")
    assert "127.0.0.1 is a loopback address" in str(err.value)
    assert receiver.requests == []


def test_the_connected_peer_is_checked_too(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever routes a checked address elsewhere (here: a connect that lands on loopback),
    the socket's peer is checked before a byte is sent."""
    port = int(receiver.url.split(":")[2].split("/")[0])
    real = httpcore.SyncBackend.connect_tcp

    def elsewhere(self: Any, host: str, port_: int, *args: Any, **kwargs: Any) -> Any:
        return real(self, "127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", elsewhere)
    policy = EgressPolicy.of(allow_http=True)
    with egress.guarded_client(policy, 5, 2) as client, pytest.raises(httpx.ConnectError) as err:
        client.post(f"http://93.184.216.34:{port}/hook", content=b"{}")
    assert "connected to 127.0.0.1 is a loopback address" in str(err.value)
    assert receiver.requests == []


def test_allowed_networks_are_delivered_to_through_the_guard(receiver: Receiver) -> None:
    policy = EgressPolicy.of(["127.0.0.1/32"], allow_http=True)
    with egress.guarded_client(policy, 5, 2) as client:
        assert client.post(receiver.url, content=b"{}").status_code == 204
    refusing = EgressPolicy.of(allow_http=True)
    with (
        egress.guarded_client(refusing, 5, 2) as client,
        pytest.raises(httpx.ConnectError, match="loopback"),
    ):
        client.post(receiver.url, content=b"{}")
    assert len(receiver.requests) == 1


def test_proxies_from_the_environment_are_not_used(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would make the connection for us, past the guard."""
    monkeypatch.setenv("HTTP_PROXY", receiver.url.rsplit("/", 1)[0])
    monkeypatch.setenv("HTTPS_PROXY", receiver.url.rsplit("/", 1)[0])
    with (
        egress.guarded_client(EgressPolicy.of(allow_http=True), 2, 2) as client,
        contextlib.suppress(httpx.HTTPError),  # whatever the sandbox's network answers
    ):
        client.post("http://93.184.216.34:9/hook", content=b"{}", timeout=0.5)
    assert receiver.requests == []  # the proxy saw nothing


def test_tls_is_verified_against_the_host_name_not_the_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connection goes to a checked address, but the certificate (and SNI) must be the
    URL's host's: a receiver with another name's certificate is refused."""
    import ssl
    import threading
    from http.server import ThreadingHTTPServer

    import trustme

    from tests import loopback
    from tests.loopback import QuietHandler

    authority = trustme.CA()
    seen: list[str | None] = []

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

    def serve(name: str) -> tuple[ThreadingHTTPServer, int]:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        authority.issue_cert(name).configure_cert(context)
        context.sni_callback = lambda sock, server_name, ctx: seen.append(server_name)
        server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, int(server.server_port)

    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in {"hooks.test", "other.test"}:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    policy = EgressPolicy.of(["127.0.0.2/32"])
    right, right_port = serve("hooks.test")
    wrong, wrong_port = serve("other.test")
    try:
        with egress.guarded_client(policy, 5, 2, client_context) as client:
            answer = client.post(f"https://hooks.test:{right_port}/hook", content=b"{}")
            assert answer.status_code == 204 and seen == ["hooks.test"]
            with pytest.raises(httpx.ConnectError, match=r"(?i)certificate|hostname"):
                client.post(f"https://hooks.test:{wrong_port}/hook", content=b"{}")
    finally:
        loopback.close(right)
        loopback.close(wrong)
