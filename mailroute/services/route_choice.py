"""The route a company's email takes, read from its sender context: the decision
(`core.routing`, over every mailbox the company has), the mailbox it sends from (or the one
that is not connected), and the From address it goes with."""

from __future__ import annotations

from mailroute.core.mime import bare_address, from_header
from mailroute.core.providers import PROVIDERS, provider
from mailroute.core.records import Mailbox, SenderContext
from mailroute.core.routing import RouteDecision, decide_route


def decide(choice: str, context: SenderContext) -> RouteDecision:
    return decide_route(
        choice,
        context.views,
        primary=context.company.primary_provider,
        default_while_broken=context.company.default_while_gmail_broken,
    )


def decided_mailbox(decision: RouteDecision, context: SenderContext) -> Mailbox | None:
    """The mailbox a decision sends from, or (a failure) the one that is not connected."""
    if decision.route is not None:
        return context.mailbox(decision.route) if decision.route in PROVIDERS else None
    return next(
        (
            m
            for m in context.mailboxes
            if provider(m.provider).not_connected_code == decision.error_code
        ),
        None,
    )


def from_address_for(decision: RouteDecision, context: SenderContext, default_from: str) -> str:
    """The mailbox's address on a mailbox route; a failed route (the mailbox not connected)
    still records the From it would have used; the default address otherwise."""
    mailbox = decided_mailbox(decision, context)
    if decision.route != "default" and mailbox is not None and mailbox.view.address:
        return from_header(context.company.name, mailbox.view.address)
    return from_header(context.company.name, bare_address(default_from))


def broken_generation(decision: RouteDecision, context: SenderContext) -> int | None:
    mailbox = decided_mailbox(decision, context)
    return mailbox.generation if mailbox is not None else None
