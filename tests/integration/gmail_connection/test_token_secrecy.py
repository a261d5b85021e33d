"""Tokens are encrypted at rest and never logged, at any level (a whole connect, send, refresh,
switch and revoke at LOG_LEVEL=DEBUG leaves no secret in any process's output); keys rotate
with `mailroute tokens`."""

from __future__ import annotations

import re
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.login_links import PostgresLoginLinks
from mailroute.adapters.db.migrations import apply_migrations, ensure_database
from mailroute.adapters.db.pool import Pool, make_pool
from mailroute.config.settings import Settings
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import (
    TEST_VHOST,
    SandboxClient,
    TestCompany,
    _delete_vhost,
    _drop_database,
    _ensure_vhost,
    email_request,
    final_email,
    worker_ready,
)
from tests.integration.gmail_connection.conftest import Browser, connection_of, state_of
from tests.stack import (
    LOG_DIR,
    MAILROUTE,
    Process,
    free_port,
    http_ready,
    running,
    wait_for,
)


def test_no_plaintext_token_or_code_in_a_database_dump_or_the_logs(
    browser: Browser,
    google_account: str,
    company: TestCompany,
    connections: PostgresConnections,
    settings: Settings,
) -> None:
    url = browser.authorization_url()
    redirect = browser.google_answers(url, google_account)
    assert browser.callback(redirect).status_code == 200
    record = connection_of(connections, company)
    tokens = connections.tokens(record.id)
    assert tokens is not None
    assert tokens.access_token is not None
    code = redirect.split("code=", 1)[1].split("&", 1)[0]
    secrets = [tokens.refresh_token, tokens.access_token]

    dump = subprocess.run(
        ["pg_dump", "--data-only", settings.database_url],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout.decode(errors="replace")
    logs = "".join(p.read_text(errors="replace") for p in sorted(LOG_DIR.glob("*.log")))

    assert company.id in dump  # the dump holds this company's rows
    for secret in secrets:
        assert secret not in dump
        assert secret not in logs
    assert code not in logs
    assert state_of(redirect) not in logs


def test_rotating_the_key_re_encrypts_every_token_under_the_newest_key(
    browser: Browser,
    google_account: str,
    company: TestCompany,
    connections: PostgresConnections,
    stack_env: dict[str, str],
    settings: Settings,
    database: Pool,
) -> None:
    browser.connect(google_account)
    record = connection_of(connections, company)
    before = connections.tokens(record.id)
    old_keys = ",".join(settings.token_encryption_keys)
    new_key = subprocess.run(
        [MAILROUTE, "tokens", "new-key"], env=stack_env, capture_output=True, check=True, text=True
    ).stdout.strip()

    def reencrypt(keys: str) -> str:
        env = {**stack_env, "TOKEN_ENCRYPTION_KEYS": keys}
        done = subprocess.run(
            [MAILROUTE, "tokens", "reencrypt"], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        said = reencrypt(f"{new_key},{old_keys}")
        under_new_key = PostgresConnections(database, TokenCipher([new_key])).tokens(record.id)
    finally:
        reencrypt(f"{old_keys},{new_key}")  # put the shared test database back under the old key

    assert "re-encrypted the tokens of" in said
    assert under_new_key is not None
    assert before is not None
    assert under_new_key.refresh_token == before.refresh_token
    assert under_new_key.access_token == before.access_token
    assert connections.tokens(record.id) is not None


# -- LOG_LEVEL=DEBUG: no secret in any of mailroute's processes' output ---------------------------
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class DebugStack:
    """web, worker and clock at LOG_LEVEL=DEBUG, on a database and vhost of their own (so no
    other process of the session does their work), sharing the session's sandbox."""

    env: dict[str, str]
    pool: Pool
    base_url: str
    processes: list[Process]

    def logs(self) -> dict[str, str]:
        return {p.name: p.log_path.read_text(errors="replace") for p in self.processes}


@pytest.fixture
def debug_stack(
    stack_env: dict[str, str], settings: Settings, sandbox: SandboxClient
) -> Iterator[DebugStack]:
    database_url = f"{settings.database_url}_debug"
    vhost = f"{TEST_VHOST}_debug"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    ensure_database(database_url)
    apply_migrations(database_url)
    _ensure_vhost(vhost)
    sandbox.post("/_sandbox/redirect-uris", uris=[f"{base_url}/oauth/google/callback"])
    env = {
        **stack_env,
        "DATABASE_URL": database_url,
        "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        "PUBLIC_BASE_URL": base_url,
        "WEB_PORT": str(port),
        "LOG_LEVEL": "DEBUG",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "TOKEN_ENCRYPTION_KEYS": TokenCipher.new_key(),
        "CONNECTION_CHECK_INTERVAL_SECONDS": "2",
        "REVOCATION_RETRY_BASE_SECONDS": "0.5",
    }
    pool = make_pool(Settings.from_env({"DATABASE_URL": database_url}), max_size=2)
    pool.open(wait=True, timeout=10)
    web = Process("debug-web", ["web"], env)
    worker = Process("debug-worker", ["worker", "--processes", "1", "--threads", "4"], env)
    clock = Process("debug-clock", ["clock"], env)
    try:
        with (
            running(web, http_ready(f"{base_url}/healthz")),
            running(worker, lambda: worker_ready(worker, 1)),
            running(clock, None),
        ):
            yield DebugStack(env, pool, base_url, [web, worker, clock])
    finally:
        pool.close()
        _drop_database(database_url)
        _delete_vhost(vhost)


def _company(pool: Pool) -> TestCompany:
    companies = PostgresCompanies(pool)
    tag = uuid.uuid4().hex[:10]
    company = companies.create(f"Acme {tag} Ltd", f"billing+{tag}@acme.example")
    admin_id = companies.add_user(company.id, f"admin+{tag}@acme.example", "admin")
    return TestCompany(
        id=company.id,
        name=company.name,
        reply_to=company.reply_to,
        admin_email=f"admin+{tag}@acme.example",
        admin_key=companies.create_api_key(company.id, "admin", user_id=admin_id),
        sender_key=companies.create_api_key(company.id, "sender"),
        tag=tag,
    )


def _sign_in(browser: Browser, pool: Pool) -> list[str]:
    """The login link, spent as a browser does; returns the secrets it involved."""
    links = PostgresLoginLinks(pool)
    admin = links.find_admin(browser.company.id)
    assert admin is not None
    token = links.create(admin)
    page = browser.http.get(f"/login/{token}")
    csrf = _CSRF_FIELD.search(page.text)
    if page.status_code == 200 and csrf:  # a confirming POST spends the link
        page = browser.http.post(f"/login/{token}", data={"csrf": csrf.group(1)})
    assert page.status_code == 303, page.text
    return [token, *(csrf.groups() if csrf else ())]


def _send(browser: Browser) -> dict[str, Any]:
    company = browser.company
    request = email_request(company, sender="gmail", attachments=[])
    accepted = browser.http.post("/v1/emails", json=request, headers=company.headers("sender"))
    assert accepted.status_code == 202, accepted.text
    return final_email(browser.http, company, accepted.json()["id"], timeout=30)


def _pending_status(pool: Pool, company: TestCompany) -> list[str]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT status FROM pending_revocations WHERE company_id = %s ORDER BY id",
            (company.id,),
        ).fetchall()
    return [row["status"] for row in rows]


def test_at_debug_connect_send_refresh_switch_and_revoke_leave_no_secret_in_any_log(
    debug_stack: DebugStack, sandbox: SandboxClient, settings: Settings
) -> None:
    company = _company(debug_stack.pool)
    first, second = (f"{who}.{company.tag}@acme-sandbox.test" for who in ("owner", "billing"))
    google = GoogleSandbox(settings.sandbox_base_url)
    for account in (first, second):
        google.add_account(account)
    http = httpx.Client(base_url=debug_stack.base_url, timeout=30.0)
    browser = Browser(http, sandbox, company)
    found = _sign_in(browser, debug_stack.pool)
    found.append(browser.csrf())
    states: list[str] = []
    try:
        url = browser.authorization_url()  # connect
        states.append(state_of(url))
        assert browser.callback(browser.google_answers(url, first)).status_code == 200
        assert _send(browser)["status"] == "sent"  # send
        google.expire_access_tokens(first)
        assert _send(browser)["status"] == "sent"  # the worker refreshes after Gmail's 401
        verified = http.post("/v1/gmail/verify", headers=company.headers()).json()
        assert verified["checked"] is True  # the web app refreshes
        clock_log = debug_stack.processes[2].log_path
        wait_for(lambda: "connection.verified" in clock_log.read_text(), timeout=20)
        url = browser.authorization_url(switch_account=True)  # switch: the old grant revoked
        states.append(state_of(url))
        assert browser.callback(browser.google_answers(url, second)).status_code == 200
        google.add_fault(503, target="revoke", account=second, persistent=True)
        revoked = http.post("/v1/gmail/revoke", headers=company.headers()).json()
        assert revoked["revocation"]["google_confirmed"] is False
        google.clear_faults(second)  # the clock asks again, and Google confirms
        wait_for(
            lambda: _pending_status(debug_stack.pool, company) == ["confirmed", "confirmed"],
            timeout=20,
            what="both revocations confirmed",
        )
        found.extend(v for k, v in http.cookies.items())
    finally:
        google.clear_faults(second)
        http.close()
    for process in debug_stack.processes:
        process.stop()
    issued = {account: google.issued(account) for account in (first, second)}
    google.close()

    named: dict[str, list[str]] = {
        "state": states,
        "api key": [company.admin_key, company.sender_key],
        "login link, csrf or cookie": found,
        "mailroute secret": [
            debug_stack.env["SECRET_KEY"],
            debug_stack.env["TOKEN_ENCRYPTION_KEYS"],
            settings.oauth_client_secret,
        ],
    }
    for account, values in issued.items():
        for kind, secrets_of_kind in values.items():
            named[f"{kind} of {account}"] = secrets_of_kind
    assert all(named[f"{kind} of {first}"] for kind in issued[first]), issued[first].keys()
    leaks = [
        f"{what} in {log_name}"
        for log_name, text in debug_stack.logs().items()
        for what, values in named.items()
        if any(value and value in text for value in values)
    ]
    assert leaks == []
    for log_name, text in debug_stack.logs().items():
        assert '"level": "debug"' in text, f"{log_name} did not log at DEBUG"
