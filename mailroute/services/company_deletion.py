"""Deleting a company and all of its data (`mailroute company delete`).

Its Gmail grant is revoked at Google first, through Revoke Access's own path
(`GmailConnections.revoke`): the tokens are deleted, the refresh token kept encrypted as a
pending revocation, and Google is asked at once. What Google does not confirm the clock keeps
asking after the company is gone: the pending revocation outlives it, without the company.
Then every row of the company is deleted in one transaction (`core.retention.CompanyEraser`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from mailroute.core.retention import CompanyEraser
from mailroute.services.connections import GmailConnections

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CompanyDeleted:
    company_id: str
    gmail_address: str | None  # the account whose grant was revoked; None: none was connected
    google_confirmed: bool | None  # None when there was no grant to revoke
    problem: str | None = None  # why Google has not confirmed (the clock keeps asking)

    def as_json(self) -> dict[str, Any]:
        revoked = None
        if self.gmail_address is not None:
            revoked = {
                "address": self.gmail_address,
                "google_confirmed": self.google_confirmed,
                "problem": self.problem,
            }
        return {"id": self.company_id, "deleted": True, "gmail_revocation": revoked}


def delete_company(
    company_id: str, *, gmail: GmailConnections, eraser: CompanyEraser
) -> CompanyDeleted | None:
    """Revoke the company's Gmail grant, then delete the company with every row of it; None
    when there is no such company."""
    revoked = gmail.revoke(company_id)
    if not eraser.erase(company_id):
        return None
    confirmed = revoked.google_confirmed if revoked.address is not None else None
    log.info("company.deleted", company_id=company_id, google_confirmed=confirmed)
    return CompanyDeleted(company_id, revoked.address, confirmed, revoked.problem)
