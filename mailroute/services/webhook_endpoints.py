"""What a company admin does with outcome webhooks, for the JSON API and a settings page alike:
register an endpoint (its signing secret is answered once), list, read and delete endpoints,
rotate the secret, enable a disabled endpoint again, read the deliveries with their attempts,
replay one. Every call is scoped to the admin's company: another company's endpoint is not found.
Refusals raise `WebhookRefusedError` naming the field and the rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog

from mailroute.core.ports import Outbox
from mailroute.core.webhook_addresses import Network
from mailroute.core.webhook_ports import (
    AddressResolver,
    Delivery,
    DeliveryHistory,
    DeliveryStatus,
    Endpoint,
    WebhookControls,
    WebhookRefusedError,
    WebhookRegistry,
)
from mailroute.core.webhook_rules import (
    DEFAULT_OVERLAP,
    MAX_ENDPOINTS_PER_COMPANY,
    Problem,
    description_problems,
    overlap_problems,
    subscription_problems,
)
from mailroute.core.webhook_signing import new_secret
from mailroute.services.webhook_targets import CheckedTarget, check_target

log = structlog.get_logger(__name__)
MAX_DELIVERIES_LISTED = 100


@dataclass(frozen=True)
class WithSecret:
    """An endpoint and its new signing secret, answered this once and never again."""

    endpoint: Endpoint
    secret: str


def _invalid(problem: Problem) -> WebhookRefusedError:
    return WebhookRefusedError("invalid", *problem)


def _not_found(field: str = "webhook_id") -> WebhookRefusedError:
    what = "webhook endpoint" if field == "webhook_id" else "delivery of this endpoint"
    return WebhookRefusedError("not_found", field, "known_" + field, f"no such {what}")


class WebhookAdmin:
    def __init__(
        self,
        registry: WebhookRegistry,
        controls: WebhookControls,
        history: DeliveryHistory,
        *,
        resolver: AddressResolver,
        outbox: Outbox,
        allowed_networks: Sequence[Network] = (),
        make_secret: Callable[[], str] = new_secret,
    ) -> None:
        self._registry, self._controls, self._history = registry, controls, history
        self._resolver, self._outbox = resolver, outbox
        self._allowed = tuple(allowed_networks)
        self._make_secret = make_secret

    def create(
        self, company_id: str, *, url: str, event_types: Sequence[str], description: str = ""
    ) -> WithSecret:
        problems = [*subscription_problems(event_types), *description_problems(description)]
        if problems:
            raise _invalid(problems[0])
        checked = check_target(url, self._resolver, self._allowed)
        if not isinstance(checked, CheckedTarget):
            raise _invalid(checked)
        secret = self._make_secret()
        endpoint = self._registry.add(
            company_id, url=url, event_types=event_types, description=description, secret=secret
        )
        if endpoint is None:
            raise WebhookRefusedError(
                "conflict",
                "url",
                "max_endpoints",
                f"a company has at most {MAX_ENDPOINTS_PER_COMPANY} webhook endpoints",
            )
        log.info("webhook.endpoint_created", company_id=company_id, endpoint_id=endpoint.id)
        return WithSecret(endpoint, secret)

    def endpoints(self, company_id: str) -> list[Endpoint]:
        return self._registry.endpoints(company_id)

    def get(self, company_id: str, endpoint_id: str) -> Endpoint:
        found = self._registry.endpoints(company_id, endpoint_id)
        if not found:
            raise _not_found()
        return found[0]

    def delete(self, company_id: str, endpoint_id: str) -> None:
        if not self._registry.remove(company_id, endpoint_id):
            raise _not_found()
        log.info("webhook.endpoint_deleted", company_id=company_id, endpoint_id=endpoint_id)

    def rotate_secret(
        self, company_id: str, endpoint_id: str, *, overlap_seconds: int | None = None
    ) -> WithSecret:
        """A new secret signs from now on; the one it replaces also signs for the overlap."""
        seconds = (
            int(DEFAULT_OVERLAP.total_seconds()) if overlap_seconds is None else overlap_seconds
        )
        problems = overlap_problems(seconds)
        if problems:
            raise _invalid(problems[0])
        secret = self._make_secret()
        endpoint = self._controls.rotate_secret(
            company_id, endpoint_id, secret=secret, overlap=timedelta(seconds=seconds)
        )
        if endpoint is None:
            raise _not_found()
        log.info("webhook.secret_rotated", company_id=company_id, endpoint_id=endpoint_id)
        return WithSecret(endpoint, secret)

    def enable(self, company_id: str, endpoint_id: str) -> Endpoint:
        """Enabled again: new events are delivered, deliveries held while disabled resume."""
        endpoint = self._controls.enable(company_id, endpoint_id)
        if endpoint is None:
            raise _not_found()
        log.info("webhook.endpoint_enabled", company_id=company_id, endpoint_id=endpoint_id)
        return endpoint

    def deliveries(
        self,
        company_id: str,
        endpoint_id: str,
        *,
        limit: int = 20,
        status: DeliveryStatus | None = None,
    ) -> list[Delivery]:
        self.get(company_id, endpoint_id)
        if not 1 <= limit <= MAX_DELIVERIES_LISTED:
            raise _invalid(("limit", "range", f"must be 1 to {MAX_DELIVERIES_LISTED}"))
        return self._history.deliveries(company_id, endpoint_id, limit=limit, status=status)

    def delivery(self, company_id: str, endpoint_id: str, delivery_id: str) -> Delivery:
        found = self._history.deliveries(company_id, endpoint_id, limit=1, delivery_id=delivery_id)
        if not found:
            self.get(company_id, endpoint_id)
            raise _not_found("delivery_id")
        return found[0]

    def replay(self, company_id: str, endpoint_id: str, delivery_id: str) -> Delivery:
        """A new attempt now, with the same `webhook-id` (receivers de-duplicate on it)."""
        outcome, outbox_id = self._history.replay(company_id, endpoint_id, delivery_id)
        if outcome == "not_found":
            self.get(company_id, endpoint_id)
            raise _not_found("delivery_id")
        if outcome == "endpoint_disabled":
            raise WebhookRefusedError(
                "conflict", "webhook_id", "endpoint_enabled", "the endpoint is disabled: enable it"
            )
        if outcome == "in_flight":
            raise WebhookRefusedError(
                "conflict", "delivery_id", "not_in_flight", "an attempt is being made right now"
            )
        if outbox_id is not None:
            self._outbox.publish_stored([outbox_id])
        log.info("webhook.replay_requested", company_id=company_id, delivery_id=delivery_id)
        return self.delivery(company_id, endpoint_id, delivery_id)
