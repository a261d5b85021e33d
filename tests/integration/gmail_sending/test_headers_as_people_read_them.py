"""Headers as people read them: whatever route an email takes, a modern mail parser reads back
exactly the Subject that was sent (no leading space, no lost spaces, no decoded look-alike of an
encoded word), the Message-ID exactly as stored however long, and `GET /v1/emails/{id}` shows
`from` as text, not RFC 2047. A company name stored with a line break (before intake refused
one) cannot break a header: its emails are sent and its admins' notice goes out.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

import httpx

from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute.core.records import ConnectionRecord
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.stack import Process, wait_for

SUBJECTS = [
    "Rechnung für Ihre Bestellung Nummer 2026-0042 vom 12. März — Überweisungsdetails,"
    " Zahlungsziel und weitere Informationen zu Ihrem Kundenkonto",
    "  Facture n° 42, deux espaces devant et derrière  ",
    "Invoice " + "x" * 120 + " café",
    "請求書のお知らせ" * 12,
    "=?utf-8?q?looks_encoded?= but is plain text",
    "Plain ASCII invoice subject that is long enough to be folded at one of its spaces, twice"
    " over, and then some more words",
]
CAFE = "Café Zoë, Ltd"


def _to(company: TestCompany) -> str:
    return f"Zoë Müller <{company.rcpt()}>"


def _send_all(api: httpx.Client, company: TestCompany, sender: str) -> dict[str, dict[str, Any]]:
    """Each subject sent over HTTP to a recipient named in Unicode; the final GET of each."""
    ids = {}
    for subject in SUBJECTS:
        response = api.post(
            "/v1/emails",
            json=email_request(company, subject=subject, sender=sender, to=[_to(company)]),
            headers=company.headers(),
        )
        assert response.status_code == 202, response.text
        ids[subject] = response.json()["id"]
    return {subject: final_email(api, company, email_id) for subject, email_id in ids.items()}


def test_over_smtp_the_subject_and_message_id_read_back_exactly_and_from_is_text(
    api: httpx.Client,
    make_company: Callable[..., TestCompany],
    sandbox: SandboxClient,
    settings: Settings,
    worker: Process,
) -> None:
    company = make_company(CAFE)

    shown = _send_all(api, company, "default")

    received = {m["subject"]: m for m in sandbox.smtp_messages(rcpt=company.rcpt())}
    assert sorted(received) == sorted(SUBJECTS)
    default_address = parseaddr(settings.default_from)[1]
    for subject, email in shown.items():
        assert email["status"] == "sent", email
        assert received[subject]["message_id"] == email["message_id"]
        assert email["from"] == f'"{CAFE}" <{default_address}>'
        assert received[subject]["from"] == email["from"]
        assert email["to"] == [_to(company)]
        assert received[subject]["headers"]["To"].startswith("=?utf-8?")  # encoded on the wire


def test_over_gmail_the_subject_and_a_long_message_id_read_back_exactly_and_from_is_text(
    api: httpx.Client,
    make_company: Callable[..., TestCompany],
    google: GoogleSandbox,
    connect_gmail: Callable[[TestCompany, str], ConnectionRecord],
    worker: Process,
) -> None:
    company = make_company(CAFE)
    account = f"owner.{company.tag}@{'a' * 60}.{'b' * 60}.example"
    google.add_account(account, name="Owner")
    connect_gmail(company, account)

    shown = _send_all(api, company, "gmail")

    received = {m["subject"]: m for m in google.gmail_sent(account)}
    assert sorted(received) == sorted(SUBJECTS)
    for subject, email in shown.items():
        assert email["status"] == "sent", email
        assert len(email["message_id"]) > 78  # longer than a folded line
        assert received[subject]["message_id"] == email["message_id"]
        assert email["from"] == f'"{CAFE}" <{account}>'
        assert received[subject]["from"] == email["from"]


def test_a_stored_company_name_with_a_line_break_breaks_no_header_and_no_notice(
    api: httpx.Client,
    make_company: Callable[..., TestCompany],
    google: GoogleSandbox,
    connect_gmail: Callable[[TestCompany, str], ConnectionRecord],
    sandbox: SandboxClient,
    database: Pool,
    worker: Process,
) -> None:
    company = make_company()
    account = f"owner.{company.tag}@acme-sandbox.test"
    google.add_account(account, name="Owner")
    connect_gmail(company, account)
    with database.connection() as conn:  # as it could be stored before create refused it
        conn.execute(
            "UPDATE companies SET name = %s WHERE id = %s",
            ("Acme\r\nBcc: victim@evil.example", company.id),
        )

    sent = api.post(
        "/v1/emails", json=email_request(company, sender="gmail"), headers=company.headers()
    )
    assert final_email(api, company, sent.json()["id"])["status"] == "sent"
    [message] = google.gmail_sent(account)
    assert message["from"] == f'"Acme  Bcc: victim@evil.example" <{account}>'
    assert "Bcc" not in message["headers"]
    assert message["rcpt_tos"] == [company.rcpt()]

    google.user_revokes(account)
    failed = api.post(
        "/v1/emails", json=email_request(company, sender="gmail"), headers=company.headers()
    )
    assert final_email(api, company, failed.json()["id"])["status"] == "failed"
    [notice] = wait_for(lambda: sandbox.smtp_messages(rcpt=company.admin_email), timeout=30)
    assert notice["subject"].endswith("(Acme  Bcc: victim@evil.example)")
    assert notice["rcpt_tos"] == [company.admin_email]
    assert sandbox.smtp_messages(rcpt="victim@evil.example") == []
