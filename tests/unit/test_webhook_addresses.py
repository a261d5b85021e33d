"""Where a webhook may go: the URL rules and the class of every address a host resolves to
(server-side request forgery), as pure functions."""

from __future__ import annotations

import pytest

from mailroute.core.webhook_addresses import (
    Target,
    address_problem,
    parse_networks,
    parse_target,
    target_problem,
)

LOOPBACK = parse_networks(["127.0.0.0/8"])


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("10.0.0.5", "private_address"),
        ("172.16.3.4", "private_address"),
        ("172.31.255.255", "private_address"),
        ("192.168.1.1", "private_address"),
        ("fc00::1", "private_address"),
        ("fd12:3456::1", "private_address"),
        ("fec0::1", "private_address"),
        ("127.0.0.1", "loopback_address"),
        ("127.255.0.9", "loopback_address"),
        ("::1", "loopback_address"),
        ("169.254.169.254", "link_local_address"),
        ("fe80::1", "link_local_address"),
        ("fe80::1%eth0", "link_local_address"),
        ("0.0.0.0", "unspecified_address"),  # noqa: S104 - an address judged, not bound
        ("0.1.2.3", "unspecified_address"),
        ("::", "unspecified_address"),
        ("224.0.0.1", "multicast_address"),
        ("ff02::1", "multicast_address"),
        ("100.64.0.1", "cgnat_address"),
        ("100.127.255.254", "cgnat_address"),
        ("192.0.2.10", "reserved_address"),
        ("198.18.0.1", "reserved_address"),
        ("240.0.0.1", "reserved_address"),
        ("255.255.255.255", "reserved_address"),
        ("2001:db8::1", "reserved_address"),
        ("::ffff:127.0.0.1", "loopback_address"),
        ("::ffff:10.1.2.3", "private_address"),
        ("::ffff:169.254.169.254", "link_local_address"),
        ("::ffff:100.64.0.1", "cgnat_address"),
        ("::ffff:8.8.8.8", "reserved_address"),  # a mapped form is no address DNS gives
        ("64:ff9b::a00:1", "private_address"),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", "loopback_address"),  # 6to4 of 127.0.0.1
        ("::127.0.0.1", "loopback_address"),  # IPv4-compatible
    ],
)
def test_an_address_that_is_not_public_is_refused_with_its_rule(address: str, rule: str) -> None:
    problem = address_problem(address)
    assert problem is not None
    assert problem[:2] == ("url", rule)
    assert address in problem[2]


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "2002:5db8:d822::"]
)
def test_a_public_address_is_accepted(address: str) -> None:
    assert address_problem(address) is None


def test_the_operator_may_allow_private_networks() -> None:
    assert address_problem("127.0.0.1", LOOPBACK) is None
    assert address_problem("::ffff:127.0.0.1", LOOPBACK) is None
    assert address_problem("10.0.0.5", LOOPBACK) is not None
    assert address_problem("::1", LOOPBACK) is not None  # the IPv6 loopback is not 127/8


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://hooks.acme.example/", "https_required"),
        ("hooks.acme.example/path", "https_required"),
        ("https://user:pass@hooks.acme.example/", "no_credentials"),
        ("https://token@hooks.acme.example/", "no_credentials"),
        ("https://hooks.acme.example:99999/", "url"),
        ("https://hooks.acme.example:0/", "url"),
        ("https:///path", "hostname"),
        ("https://hooks_acme.example/", "hostname"),
        ("https://hooks.acme.example/a b", "url"),
        ("https://hooks.acme.example/\r\nX: y", "url"),
        ("https://bücher.example/", "url"),
        ("https://hooks.acme.example/" + "a" * 2048, "max_length"),
    ],
)
def test_a_url_that_breaks_a_rule_is_refused_naming_url_and_the_rule(url: str, rule: str) -> None:
    parsed = parse_target(url)
    assert isinstance(parsed, tuple)
    assert parsed[:2] == ("url", rule)


def test_a_url_is_taken_apart_for_connecting_to_the_checked_address() -> None:
    target = parse_target("https://Hooks.Acme.example:8443/in/mailroute?key=1")
    assert isinstance(target, Target)
    assert (target.host, target.port, target.path) == (
        "hooks.acme.example",
        8443,
        "/in/mailroute?key=1",
    )
    assert target.host_header == "hooks.acme.example:8443"
    assert target.url_for("93.184.216.34") == "https://93.184.216.34:8443/in/mailroute?key=1"
    assert target.url_for("2606:4700::1") == "https://[2606:4700::1]:8443/in/mailroute?key=1"
    v6 = parse_target("https://[2606:4700::1111]/")
    assert isinstance(v6, Target)
    assert v6.is_ip_literal
    assert (v6.host, v6.port, v6.host_header) == ("2606:4700::1111", 443, "[2606:4700::1111]")


def test_every_address_of_a_host_must_be_public() -> None:
    target = parse_target("https://hooks.acme.example/")
    assert isinstance(target, Target)
    assert target_problem(target, ["93.184.216.34"]) is None
    problem = target_problem(target, ["93.184.216.34", "10.0.0.5"])
    assert problem is not None
    assert problem[:2] == ("url", "private_address")
    assert target_problem(target, [])[:2] == ("url", "resolvable_host")  # type: ignore[index]


def test_plain_http_reaches_only_an_allowed_private_network() -> None:
    local = parse_target("http://127.0.0.1:8080/hook")
    public = parse_target("http://hooks.acme.example/hook")
    assert isinstance(local, Target)
    assert isinstance(public, Target)
    assert target_problem(local, ["127.0.0.1"], LOOPBACK) is None
    assert target_problem(local, ["127.0.0.1"])[:2] == ("url", "loopback_address")  # type: ignore[index]
    assert target_problem(public, ["93.184.216.34"], LOOPBACK)[:2] == ("url", "https_required")  # type: ignore[index]


def test_a_malformed_allowed_network_is_an_error() -> None:
    with pytest.raises(ValueError, match="lan"):
        parse_networks(["lan"])
