"""The floor of mailroute's Gmail route: the bare two-hop pipeline doing the same I/O as a Gmail
email and nothing else.

hop_a stores the inline request already routed (one INSERT, as `bench.floor`) and enqueues
hop_b; hop_b makes the Gmail route's database round trips with equivalent simple statements
(claim the row; take the account's pacing slot; take a send lease; record the send, giving the
lease back in the same statement) around one `users.messages.send` through
google-api-python-client, on a service and HTTP connection kept per thread, as the account
BENCH_GMAIL_ACCOUNT with the access token BENCH_GMAIL_TOKEN. No validation, routing, MIME
building, token handling, pacing decisions, logging or outcome events.

It imports nothing of `bench.floor`, whose actors the worker would consume too (what they
share is in `bench.floor_io`). Run by the bench as `dramatiq bench.gmail_floor`; hop_b appends
one byte to BENCH_DONE_FILE per email."""

from __future__ import annotations

import base64
import json
import os
import threading
from typing import Any

import dramatiq
import httplib2
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc

from bench.floor_io import bench_broker, db, done_file, store

broker = bench_broker()
_done = done_file()
_local = threading.local()
ACCOUNT = os.environ.get("BENCH_GMAIL_ACCOUNT", "")
_AUTHORIZATION = f"Bearer {os.environ.get('BENCH_GMAIL_TOKEN', '')}"
_BODY = {
    "raw": base64.urlsafe_b64encode(
        f"From: Bench <{ACCOUNT}>\r\nTo: client@example.com\r\nSubject: Invoice\r\n"
        "Message-ID: <floor@bench.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hello, please find your invoice attached.\r\n".encode()
    ).decode("ascii")
}
# One row per sending account: its next pacing slot, its sends in flight, its sends counted.
ACCOUNTS_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_floor_accounts (account text PRIMARY KEY,"
    " next_slot timestamptz NOT NULL DEFAULT now(), in_flight integer NOT NULL DEFAULT 0,"
    " sends integer NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now())"
)
_CLAIM = "UPDATE bench_floor SET status = 'sending' WHERE id = %s AND status = 'queued'"
_SLOT = (
    "UPDATE bench_floor_accounts SET next_slot = GREATEST(next_slot, now())"
    " + interval '1 millisecond', updated_at = now() WHERE account = %s"
)
_LEASE = (
    "UPDATE bench_floor_accounts SET in_flight = in_flight + 1, sends = sends + 1,"
    " updated_at = now() WHERE account = %s"
)
_SENT = (
    "WITH sent AS (UPDATE bench_floor SET status = 'sent', sent_at = now(),"
    " provider_message_id = %s WHERE id = %s)"
    " UPDATE bench_floor_accounts SET in_flight = in_flight - 1, updated_at = now()"
    " WHERE account = %s"
)


def _discovery(root_url: str) -> dict[str, Any]:
    """The client's bundled Gmail discovery document pointed at `root_url`, as mailroute's."""
    doc: dict[str, Any] = json.loads(get_static_doc("gmail", "v1") or "{}")
    doc["rootUrl"] = doc["mtlsRootUrl"] = root_url.rstrip("/") + "/"
    return doc


# Parsed once per process, before the worker is ready.
_DOC = (
    _discovery(os.environ["BENCH_GMAIL_ROOT_URL"]) if "BENCH_GMAIL_ROOT_URL" in os.environ else {}
)


def _messages() -> tuple[Any, httplib2.Http]:
    """This thread's `users.messages` resource and its HTTP client, built once."""
    found: tuple[Any, httplib2.Http] | None = getattr(_local, "gmail", None)
    if found is None:
        http = httplib2.Http(timeout=30)
        found = _local.gmail = (build_from_document(_DOC, http=http).users().messages(), http)
    return found


def _send() -> str:
    """One `users.messages.send` of the ready-made message; Gmail's id for it."""
    messages, http = _messages()
    request = messages.send(userId="me", body=_BODY)
    request.headers["authorization"] = _AUTHORIZATION
    result: dict[str, Any] = request.execute(http=http, num_retries=0)
    return str(result["id"])


@dramatiq.actor(queue_name="gmail_floor_a", max_retries=0)
def gmail_floor_a(request: dict[str, Any]) -> None:
    row_id = store(request, "gmail", ACCOUNT)
    gmail_floor_b.send(row_id)


@dramatiq.actor(queue_name="gmail_floor_b", max_retries=0)
def gmail_floor_b(row_id: int) -> None:
    with db().connection() as conn:
        conn.execute(_CLAIM, (row_id,))
        conn.execute(_SLOT, (ACCOUNT,))
        conn.execute(_LEASE, (ACCOUNT,))
        gmail_id = _send()
        conn.execute(_SENT, (gmail_id, row_id, ACCOUNT))
    os.write(_done, b".")
