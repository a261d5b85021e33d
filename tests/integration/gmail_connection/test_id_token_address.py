"""The ID token's email becomes the From of every email: it is refused unless it is one plain,
valid email address, and nothing is stored."""

from __future__ import annotations

import pytest
from markupsafe import escape

from mailroute.adapters.db.connections import PostgresConnections
from tests.conftest import SandboxClient, TestCompany
from tests.integration.gmail_connection.conftest import Browser, connection_of


@pytest.mark.parametrize(
    "claimed",
    [
        "not-an-address",
        "Owner <owner@acme-sandbox.test>",
        "owner@acme-sandbox.test\r\nBcc: everyone@example.com",
        "owner@@acme-sandbox.test",
        "owner@acme-sandbox.test ",
        '"quoted owner"@acme-sandbox.test',
        "owner@localhost",
    ],
)
def test_an_id_token_email_that_is_not_a_plain_address_is_refused_and_nothing_stored(
    browser: Browser,
    sandbox: SandboxClient,
    connections: PostgresConnections,
    company: TestCompany,
    claimed: str,
) -> None:
    account = f"odd.{company.tag}@acme-sandbox.test"
    sandbox.post("/_sandbox/accounts", email=account, id_token_email=claimed)

    page = browser.connect(account)

    assert page.status_code == 400
    assert 'data-code="email_invalid"' in page.text
    assert "is not a plain email address" in page.text
    assert str(escape(repr(claimed))) in page.text  # as the page shows it, CR/LF visible
    assert connections.for_company(company.id) is None


def test_the_id_token_email_is_stored_with_its_domain_normalised(
    browser: Browser,
    sandbox: SandboxClient,
    connections: PostgresConnections,
    company: TestCompany,
) -> None:
    account = f"cased.{company.tag}@acme-sandbox.test"
    sandbox.post(
        "/_sandbox/accounts", email=account, id_token_email=f"Cased.{company.tag}@ACME-Sandbox.TEST"
    )

    page = browser.connect(account)

    assert page.status_code == 200
    assert connection_of(connections, company).address == f"Cased.{company.tag}@acme-sandbox.test"
