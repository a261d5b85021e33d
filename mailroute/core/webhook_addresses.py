"""Where a webhook may go (server-side request forgery): the URL rules and the classification of
every address its host resolves to. No I/O: the resolution is an adapter's
(`adapters.dns`); these rules run on what it found, at registration and again at every attempt,
so a DNS change never reaches inside.

A target is `https://` with a host whose every address is public. Refused, each with its rule:
unspecified (`0.0.0.0/8`, `::`), loopback, link-local (`169.254/16`, `fe80::/10`), multicast,
private (RFC 1918, `fc00::/7`, the old site-local `fec0::/10`), shared address space / CGNAT
(`100.64/10`), and whatever else is not global (documentation, benchmarking, reserved,
broadcast); an IPv6 address that embeds an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible,
NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the IPv4 address it carries. The operator may
allow networks (`WEBHOOK_ALLOWED_PRIVATE_NETWORKS`): an address inside one is accepted whatever its
class, and a target all of whose addresses are allowed may also be `http://`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from mailroute.core.webhook_rules import Problem

MAX_URL = 2048
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOSTNAME = re.compile(
    r"(?=.{1,253}\.?$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}\.?"
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: where to connect, and what to say in `Host`."""

    url: str
    scheme: str
    host: str  # lower-case; an IP literal without brackets
    port: int
    path: str  # path and query, at least "/"
    is_ip_literal: bool

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def url_for(self, address: str) -> str:
        """The URL with the host replaced by `address`, to connect where the check looked."""
        host = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The operator's allowed networks; raises ValueError naming a malformed one."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def parse_target(url: str) -> Target | Problem:
    """The URL's parts, or the first rule it breaks (field `url`)."""
    if len(url) > MAX_URL:
        return ("url", "max_length", f"at most {MAX_URL} characters")
    if not url.isascii():
        return ("url", "url", "ASCII only: percent-encode the path, write the host as `xn--…`")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return ("url", "url", "no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return ("url", "url", f"not a URL: {exc}")
    if parts.scheme not in ("https", "http"):
        return ("url", "https_required", "must be an https:// URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return ("url", "no_credentials", "must not carry a user name or password")
    return _target(url, parts, port)


def _target(url: str, parts: SplitResult, port: int | None) -> Target | Problem:
    host = (parts.hostname or "").lower()
    literal = _ip(host)
    if literal is None and not _HOSTNAME.fullmatch(host):
        return ("url", "hostname", "needs a host name (ASCII, `xn--` for others) or an IP address")
    if port == 0:
        return ("url", "url", "port 0 cannot be reached")
    path = parts.path or "/"
    return Target(
        url=url,
        scheme=parts.scheme,
        host=str(literal) if literal is not None else host.rstrip("."),
        port=port or (443 if parts.scheme == "https" else 80),
        path=f"{path}?{parts.query}" if parts.query else path,
        is_ip_literal=literal is not None,
    )


def _ip(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _class_of(address: Address) -> tuple[str, str] | None:
    """(rule, what it is) for an address that is not public; None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)):
        found = _class_of(inner)
        if found is not None:
            return found[0], f"{found[1]} (carried as {inner})"
    checks: tuple[tuple[bool, str, str], ...] = (
        (address.is_unspecified or address in _THIS_NETWORK, "unspecified_address", "unspecified"),
        (address.is_loopback, "loopback_address", "a loopback address"),
        (address.is_link_local, "link_local_address", "a link-local address"),
        (address.is_multicast, "multicast_address", "a multicast address"),
        (_is_private(address), "private_address", "a private address"),
        (address in _CGNAT, "cgnat_address", "in the shared (CGNAT) range 100.64.0.0/10"),
        (address.is_reserved or not address.is_global, "reserved_address", "not a public address"),
    )
    return next(((rule, what) for hit, rule, what in checks if hit), None)


def _is_private(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv4Address):
        return any(address in network for network in _RFC1918)
    return address in _UNIQUE_LOCAL or address.is_site_local


def _allowed(address: Address, allowed: Sequence[Network]) -> bool:
    candidates: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)):
        candidates.append(inner)
    return any(a.version == n.version and a in n for a in candidates for n in allowed)


def address_problem(address: str, allowed: Sequence[Network] = ()) -> Problem | None:
    """Why a webhook may not connect to `address` (field `url`), or None when it may."""
    parsed = _ip(address.split("%", 1)[0])
    if parsed is None:
        return ("url", "url", f"{address} is not an IP address")
    if _allowed(parsed, allowed):
        return None
    found = _class_of(parsed)
    if found is None:
        return None
    rule, what = found
    return ("url", rule, f"the host resolves to {address}, {what}: webhooks go to public hosts")


def target_problem(
    target: Target, addresses: Sequence[str], allowed: Sequence[Network] = ()
) -> Problem | None:
    """Why a webhook may not go to `target` resolved to `addresses`, or None when it may:
    every address must be public (or allowed), and `http://` only reaches allowed ones."""
    if not addresses:
        return ("url", "resolvable_host", f"{target.host} resolves to no address")
    for address in addresses:
        problem = address_problem(address, allowed)
        if problem is not None:
            return problem
    if target.scheme == "http" and not all(_allowed_text(a, allowed) for a in addresses):
        return ("url", "https_required", "must be an https:// URL")
    return None


def _allowed_text(address: str, allowed: Sequence[Network]) -> bool:
    parsed = _ip(address.split("%", 1)[0])
    return parsed is not None and _allowed(parsed, allowed)
