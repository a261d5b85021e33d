"""Where a webhook URL leads, checked: parsed, its host resolved, every address it resolves to
judged by `core.webhook_addresses`. The same check runs when an admin registers an endpoint and
before every attempt, so a host that later resolves inside is never reached."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailroute.core.webhook_addresses import Network, Target, parse_target, target_problem
from mailroute.core.webhook_ports import AddressResolver, HostUnresolvedError
from mailroute.core.webhook_rules import Problem


@dataclass(frozen=True)
class CheckedTarget:
    target: Target
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        """The address to connect to: the first of those checked."""
        return self.addresses[0]


def check_target(
    url: str, resolver: AddressResolver, allowed: Sequence[Network]
) -> CheckedTarget | Problem:
    """The URL's target and the addresses it resolved to, or the rule it breaks (`url`)."""
    parsed = parse_target(url)
    if not isinstance(parsed, Target):
        return parsed
    if parsed.is_ip_literal:
        addresses = [parsed.host]
    else:
        try:
            addresses = resolver.resolve(parsed.host, parsed.port)
        except HostUnresolvedError as exc:
            return ("url", "resolvable_host", exc.message)
    problem = target_problem(parsed, addresses, allowed)
    if problem is not None:
        return problem
    return CheckedTarget(parsed, tuple(addresses))
