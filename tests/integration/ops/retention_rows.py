"""Rows for the retention tests: looking for a value in every column of every table, the
rows of a company wherever they live (found from the schema's foreign keys), and the rows the
tests seed, each with the age it needs."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import timedelta
from typing import Any

from psycopg import sql

from mailroute.adapters.db.browser_sessions import PostgresBrowserSessions
from mailroute.adapters.db.emails import PostgresEmails
from mailroute.adapters.db.login_links import PostgresLoginLinks
from mailroute.adapters.db.outbox import add_event
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.rate_limits import PostgresRateLimits
from mailroute.events import queues
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import TestCompany
from tests.fakes import email_request as email_event
from tests.private_stack import PrivateStack

TEXT_TYPES = ("text", "character varying", "jsonb", "json", "ARRAY", "uuid")


def columns(pool: Pool) -> list[tuple[str, str, str]]:
    """Every column of every table that could hold text or bytes: (table, column, type)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
            " AND c.data_type = ANY(%s) ORDER BY 1, 2",
            (["bytea", *TEXT_TYPES],),
        ).fetchall()
    return [(r["table_name"], r["column_name"], r["data_type"]) for r in rows]


def found_in(pool: Pool, needles: list[str], raw: tuple[bytes, ...] = ()) -> list[str]:
    """`table.column` of every column where a row holds one of `needles` (as text) or one of
    `raw` (as bytes)."""
    found = []
    with pool.connection() as conn:
        for table, column, kind in columns(pool):
            col = sql.Identifier(column)
            if kind == "bytea":
                probes = [
                    sql.SQL("position({} in {}) > 0").format(sql.Literal(b), col) for b in raw
                ]
                probes += [
                    sql.SQL("position(convert_to({}, 'UTF8') in {}) > 0").format(
                        sql.Literal(n), col
                    )
                    for n in needles
                ]
            else:
                probes = [
                    sql.SQL("strpos({}::text, {}) > 0").format(col, sql.Literal(n)) for n in needles
                ]
            if not probes:
                continue
            query = sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(
                sql.Identifier(table), sql.SQL(" OR ").join(probes)
            )
            if conn.execute(query).fetchone()["n"]:  # type: ignore[index]
                found.append(f"{table}.{column}")
    return found


def company_tables(pool: Pool) -> dict[str, sql.Composable]:
    """Each table holding rows of a company, by a `company_id` column or by foreign keys
    leading to one, with the condition that picks the rows of `%(company)s`."""
    with pool.connection() as conn:
        direct = conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND column_name = 'company_id'"
        ).fetchall()
        keys = conn.execute(
            "SELECT cl.relname AS child, a.attname AS col, p.relname AS parent,"
            " pa.attname AS parent_col FROM pg_constraint c"
            " JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class p ON p.oid = c.confrelid"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
            " JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]"
            " WHERE c.contype = 'f' AND cardinality(c.conkey) = 1"
        ).fetchall()
    scopes: dict[str, sql.Composable] = {"companies": sql.SQL("id = %(company)s::uuid")}
    for row in direct:
        scopes[row["table_name"]] = sql.SQL("company_id = %(company)s::uuid")
    grew = True
    while grew:
        grew = False
        for key in keys:
            if key["parent"] in scopes and key["child"] not in scopes:
                scopes[key["child"]] = sql.SQL("{} IN (SELECT {} FROM {} WHERE {})").format(
                    sql.Identifier(key["col"]),
                    sql.Identifier(key["parent_col"]),
                    sql.Identifier(key["parent"]),
                    scopes[key["parent"]],
                )
                grew = True
    return scopes


def rows_of(pool: Pool, company_id: str) -> dict[str, int]:
    """How many rows of the company each of `company_tables` holds."""
    counts = {}
    with pool.connection() as conn:
        for table, where in company_tables(pool).items():
            query = sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(
                sql.Identifier(table), where
            )
            counts[table] = conn.execute(query, {"company": company_id}).fetchone()["n"]  # type: ignore[index]
    return counts


def execute(pool: Pool, query: str, params: Any = None) -> list[dict[str, Any]]:
    with pool.connection() as conn:
        cursor = conn.execute(query.encode(), params)
        return cursor.fetchall() if cursor.description else []


def script(pool: Pool, statements: str, params: dict[str, Any]) -> None:
    """Each of `statements` (separated by `;` at the end of a line) in turn, in one
    transaction."""
    with pool.connection() as conn, conn.transaction():
        for statement in filter(str.strip, statements.split(";\n")):
            conn.execute(statement.encode(), params)


def attachment_bytes() -> bytes:
    return b"%PDF-1.4\n" + os.urandom(6000) + b"\n%%EOF\n"


def stored_email(stack: PrivateStack, company: TestCompany, **fields: Any) -> str:
    """An email stored as the dispatcher stores it (queued on the default route), with an
    attachment; its id."""
    event = email_event(
        company.id,
        html="<p>Hello Jane</p>",
        attachments=[
            {
                "filename": "a.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(attachment_bytes()).decode(),
            }
        ],
        **fields,
    )
    result, _outbox = PostgresEmails(stack.pool).store(
        event, correlation_id="retention-test", route="default", message_id="<m@x>", routed=True
    )
    return result.email_id


SEED = """
INSERT INTO outbox_events (routing_key, actor_name, payload, created_at, published_at,
  refused_reason)
SELECT 'smtp', 'mailroute.send_via_smtp', jsonb_build_object('args', '[]'::jsonb, 'tag', tag),
  now() - created, now() - published, refused
FROM (VALUES
  ('go-outbox-1', interval '2 hours', interval '2 hours', NULL),
  ('go-outbox-2', interval '2 hours', interval '2 hours', NULL),
  ('go-outbox-3', interval '2 hours', interval '2 hours', NULL),
  ('go-outbox-4', interval '2 hours', interval '2 hours', NULL),
  ('go-outbox-5', interval '2 hours', interval '2 hours', NULL),
  ('go-outbox-6', interval '2 hours', interval '2 hours', NULL),
  ('go-outbox-7', interval '2 hours', interval '2 hours', NULL),
  ('go-outbox-refused', interval '2 days', interval '2 days', 'too large'),
  ('stay-outbox-young', interval '1 minute', interval '1 minute', NULL),
  ('stay-outbox-refused', interval '2 hours', interval '2 hours', 'too large')
) AS v(tag, created, published, refused);
INSERT INTO outbox_events (routing_key, actor_name, payload, created_at)
VALUES ('smtp', 'mailroute.send_via_smtp', '{"args": [], "tag": "stay-outbox-unpublished"}',
  now() - interval '365 days');
INSERT INTO webhook_endpoints (id, company_id, url, event_types, secret_enc)
VALUES (%(endpoint)s, %(company)s, 'https://hooks.example/', ARRAY['email.*'], '\\x00');
INSERT INTO webhook_deliveries (id, endpoint_id, company_id, outbox_event_id, event_type,
  payload, status, correlation_id, updated_at)
SELECT gen_random_uuid(), %(endpoint)s, %(company)s, n, 'email.sent', '{}', status, tag,
  now() - age
FROM (VALUES
  (1, 'go-delivered', 'delivered', interval '2 days'),
  (2, 'go-failed', 'failed', interval '2 days'),
  (3, 'stay-pending', 'pending', interval '2 days'),
  (4, 'stay-held', 'held', interval '2 days'),
  (5, 'stay-sending', 'sending', interval '2 days'),
  (6, 'stay-delivered', 'delivered', interval '1 hour')
) AS v(n, tag, status, age);
INSERT INTO webhook_attempts (delivery_id, status_code, response_body, duration_ms)
SELECT id, 500, 'no', 3 FROM webhook_deliveries;
INSERT INTO rejected_messages (queue, actor, message_id, reason, payload, created_at) VALUES
  ('dispatch', 'dispatch_email', 'go-rejected', 'unreadable', '{}', now() - interval '2 days'),
  ('dispatch', 'dispatch_email', 'stay-rejected', 'unreadable', '{}', now());
INSERT INTO dead_letters (message_id, queue, actor, reason, failed_at) VALUES
  ('go-dead', 'smtp', 'mailroute.send_via_smtp', 'died', now() - interval '8 days'),
  ('stay-dead', 'smtp', 'mailroute.send_via_smtp', 'died', now() - interval '3 days');
INSERT INTO oauth_states (nonce, company_id, session_hash, code_verifier_enc, expires_at) VALUES
  ('go-state', %(company)s, 'h', '\\x00', now() - interval '2 days'),
  ('stay-state-lately', %(company)s, 'h', '\\x00', now() - interval '1 hour'),
  ('stay-state', %(company)s, 'h', '\\x00', now() + interval '10 minutes');
INSERT INTO login_links (token_hash, company_id, user_id, expires_at) VALUES
  (sha256('go-link'), %(company)s, %(user)s, now() - interval '2 days'),
  (sha256('stay-link'), %(company)s, %(user)s, now() - interval '1 hour');
INSERT INTO browser_sessions (id, token_hash, company_id, user_id, csrf, expires_at) VALUES
  ('go-session', sha256('go-session'), %(company)s, %(user)s, 'c', now() - interval '1 minute'),
  ('stay-session', sha256('stay-session'), %(company)s, %(user)s, 'c', now() + interval '8 hours');
INSERT INTO rate_limits (key, hits, updated_at) VALUES
  ('go-rate', ARRAY[now() - interval '2 days'], now() - interval '2 days'),
  ('stay-rate', ARRAY[now()], now());
INSERT INTO pending_revocations (company_id, google_subject, reason, status, token_enc,
  settled_at) VALUES
  (%(company)s, 'go-settled', 'revoke_access', 'confirmed', NULL, now() - interval '2 days'),
  (%(company)s, 'stay-settled', 'revoke_access', 'confirmed', NULL, now()),
  (%(company)s, 'stay-pending', 'revoke_access', 'pending', '\\x00', NULL),
  (NULL, 'go-orphan', 'superseded', 'cancelled', NULL, now());
"""
REMAINING = {
    "outbox_events": "SELECT payload ->> 'tag' AS tag FROM outbox_events",
    "webhook_deliveries": "SELECT correlation_id AS tag FROM webhook_deliveries",
    "webhook_attempts": "SELECT d.correlation_id AS tag FROM webhook_attempts a"
    " JOIN webhook_deliveries d ON d.id = a.delivery_id",
    "rejected_messages": "SELECT message_id AS tag FROM rejected_messages",
    "dead_letters": "SELECT message_id AS tag FROM dead_letters",
    "oauth_states": "SELECT nonce AS tag FROM oauth_states",
    "login_links": "SELECT CASE token_hash WHEN sha256('go-link') THEN 'go-link'"
    " ELSE 'stay-link' END AS tag FROM login_links",
    "browser_sessions": "SELECT id AS tag FROM browser_sessions",
    "rate_limits": "SELECT key AS tag FROM rate_limits",
    "pending_revocations": "SELECT google_subject AS tag FROM pending_revocations",
}


def company_with_everything(stack: PrivateStack, google: GoogleSandbox) -> list[str]:
    """A company with a row in every table a company's rows live in: its Gmail connected for
    real, emails with attachments, an outcome event with its webhook delivery and attempt,
    sign-in states, a login link, a session, a rate-limit window, a rejected message naming
    it, the earlier release's intake row, a settled revocation. Returns every id and address
    of it, to look for afterwards."""
    company = stack.company()
    account = stack.connect_gmail(company, google)
    emails = [stored_email(stack, company), stored_email(stack, company)]
    endpoint = str(uuid.uuid4())
    admin = PostgresLoginLinks(stack.pool).find_admin(company.id)
    assert admin is not None
    [connection] = execute(
        stack.pool, "SELECT id FROM mailbox_connections WHERE company_id = %s", (company.id,)
    )
    params = {
        "company": company.id,
        "user": admin.user_id,
        "connection": connection["id"],
        "endpoint": endpoint,
        "email": emails[0],
        "subject": f"subject-{company.tag}",
    }
    script(stack.pool, COMPANY_ROWS, params)
    with stack.pool.connection() as conn:
        add_event(conn, "email.sent", {"company_id": company.id, "email_id": emails[0]})
    execute(
        stack.pool,
        "INSERT INTO webhook_attempts (delivery_id, status_code, duration_ms)"
        " SELECT id, 200, 4 FROM webhook_deliveries WHERE company_id = %s",
        (company.id,),
    )
    PostgresLoginLinks(stack.pool).create(admin)
    PostgresBrowserSessions(stack.pool).open(admin, timedelta(hours=8))
    PostgresRateLimits(stack.pool).take(f"gmail_check:{company.id}", 5, timedelta(minutes=1))
    event = email_event(company.id).to_wire()
    PostgresEmails(stack.pool).record_rejected(
        queue="dispatch",
        actor=queues.DISPATCH_EMAIL,
        message_id=str(uuid.uuid4()),
        reason="company_id: unknown",
        payload=event,
    )
    deliveries = execute(
        stack.pool, "SELECT id::text FROM webhook_deliveries WHERE company_id = %s", (company.id,)
    )
    users = execute(stack.pool, "SELECT id::text FROM users WHERE company_id = %s", (company.id,))
    return [
        company.id,
        account,
        company.admin_email,
        params["subject"],
        endpoint,
        str(connection["id"]),
        *emails,
        *(r["id"] for r in deliveries),
        *(r["id"] for r in users),
    ]


COMPANY_ROWS = """
INSERT INTO gmail_pacing (connection_id) VALUES (%(connection)s);
INSERT INTO auth_broken_notices (connection_id, generation, company_id, reason, status)
VALUES (%(connection)s, 99, %(company)s, 'revoked', 'sent');
INSERT INTO webhook_endpoints (id, company_id, url, event_types, secret_enc)
VALUES (%(endpoint)s, %(company)s, 'https://hooks.example/', ARRAY['email.*'], '\\x00');
INSERT INTO oauth_states (nonce, company_id, user_id, session_hash, code_verifier_enc,
  expires_at)
VALUES (gen_random_uuid()::text, %(company)s, %(user)s, 'h', '\\x00',
  now() + interval '10 minutes');
INSERT INTO intake_outbox (company_id, event_id, email_id, payload)
VALUES (%(company)s, 'legacy-1', %(email)s, '{}');
INSERT INTO pending_revocations (company_id, google_subject, address, reason, status, settled_at)
VALUES (%(company)s, %(subject)s, 'old@acme.example', 'superseded', 'confirmed', now());
INSERT INTO reauthorization_links (token_hash, company_id, connection_id, generation, provider,
  account_subject, address, expires_at, sign_in_nonce)
VALUES (sha256(%(company)s::text::bytea), %(company)s::uuid, %(connection)s, 99, 'gmail',
  %(subject)s, 'owner@acme.example', now() + interval '7 days', 'nonce-' || %(company)s::text);
INSERT INTO reauthorization_sign_ins (nonce, token_hash)
VALUES ('nonce-' || %(company)s::text, sha256(%(company)s::text::bytea));
INSERT INTO active_again_notices (connection_id, generation, company_id, status)
VALUES (%(connection)s, 99, %(company)s::uuid, 'sent');
INSERT INTO expiry_notices (connection_id, generation, company_id, expires_at, status)
VALUES (%(connection)s, 99, %(company)s::uuid, now() + interval '2 days', 'sent');
"""
