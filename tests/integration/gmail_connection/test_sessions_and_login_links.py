"""Browser sessions are known server-side: signing out, losing the admin role, being removed and
expiry end them at once, whatever copy of the cookie a browser keeps. A one-time login link is
spent by its confirming POST (never by the GET a link previewer makes), only from the browser
that opened it, and never silently replaces the session of another admin."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from mailroute.adapters.db.login_links import PostgresLoginLinks
from mailroute.adapters.db.pool import Pool
from tests.conftest import TestCompany
from tests.integration.gmail_connection.conftest import _CSRF, Browser, connection_of

COOKIE = "mailroute_session"


def _link(database: Pool, company: TestCompany) -> str:
    links = PostgresLoginLinks(database)
    admin = links.find_admin(company.id)
    assert admin is not None
    return f"/login/{links.create(admin)}"


def _csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def _with_cookie(web: str, token: str) -> httpx.Client:
    """Another browser holding a copy of a session cookie."""
    return httpx.Client(base_url=web, timeout=30.0, cookies={COOKIE: token})


def _sessions_of(database: Pool, company: TestCompany) -> int:
    with database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM browser_sessions WHERE company_id = %s", (company.id,)
        ).fetchone()
    return int(row["n"])


def _link_used(database: Pool, path: str) -> bool:
    token_hash = hashlib.sha256(path.removeprefix("/login/").encode()).digest()
    with database.connection() as conn:
        row = conn.execute(
            "SELECT used_at FROM login_links WHERE token_hash = %s", (token_hash,)
        ).fetchone()
    return row["used_at"] is not None


def test_signing_out_ends_the_session_at_once_and_an_old_copy_of_the_cookie_opens_nothing(
    browser: Browser, database: Pool, company: TestCompany, web: str
) -> None:
    browser.login(database)
    copy = browser.http.cookies[COOKIE]
    csrf = browser.csrf()

    signed_out = browser.http.post("/logout", data={"csrf": csrf})
    with _with_cookie(web, copy) as thief:
        page = thief.get("/settings/email")
        form = thief.post("/settings/email/revoke", data={"csrf": csrf})

    assert signed_out.status_code == 200
    assert "max-age=0" in signed_out.headers["set-cookie"].lower()
    assert page.status_code == 401
    assert form.status_code == 401
    assert _sessions_of(database, company) == 0
    assert browser.http.get("/settings/email").status_code == 401


def test_an_admin_who_loses_the_admin_role_is_signed_out_on_their_next_request(
    browser: Browser, database: Pool, company: TestCompany
) -> None:
    browser.login(database)
    csrf = browser.csrf()
    with database.connection() as conn:
        conn.execute(
            "UPDATE users SET role = 'sender' WHERE company_id = %s AND email = %s",
            (company.id, company.admin_email),
        )

    page = browser.http.get("/settings/email")
    with database.connection() as conn:
        conn.execute(
            "UPDATE users SET role = 'admin' WHERE company_id = %s AND email = %s",
            (company.id, company.admin_email),
        )
    after_restore = browser.http.get("/settings/email")
    form = browser.http.post("/settings/email/check", data={"csrf": csrf})

    assert page.status_code == 401
    assert "max-age=0" in page.headers["set-cookie"].lower()
    assert after_restore.status_code == 401  # the session ended; it does not come back
    assert form.status_code == 401
    assert _sessions_of(database, company) == 0


def test_a_removed_admin_is_signed_out_on_their_next_request(
    browser: Browser, database: Pool, company: TestCompany
) -> None:
    browser.login(database)
    csrf = browser.csrf()
    with database.connection() as conn:
        conn.execute(
            "DELETE FROM users WHERE company_id = %s AND email = %s",
            (company.id, company.admin_email),
        )

    page = browser.http.get("/settings/email")
    form = browser.http.post("/settings/email/revoke", data={"csrf": csrf})

    assert page.status_code == 401
    assert form.status_code == 401
    assert _sessions_of(database, company) == 0


def test_a_session_expires_server_side_whatever_the_cookie_says(
    browser: Browser, database: Pool, company: TestCompany
) -> None:
    browser.login(database)
    assert browser.http.get("/settings/email").status_code == 200
    with database.connection() as conn:
        conn.execute(
            "UPDATE browser_sessions SET expires_at = now() - interval '1 second'"
            " WHERE company_id = %s",
            (company.id,),
        )

    page = browser.http.get("/settings/email")

    assert page.status_code == 401


def test_a_link_previewer_fetching_the_login_link_spends_nothing(
    browser: Browser, database: Pool, company: TestCompany, web: str
) -> None:
    path = _link(database, company)

    with httpx.Client(base_url=web, timeout=30.0) as previewer:
        previews = [previewer.get(path), previewer.head(path)]
    opened = browser.http.get(path)
    signed_in = browser.http.post(path, data={"csrf": _csrf_of(opened)})

    assert [p.status_code for p in previews] == [200, 405]
    assert f"{company.admin_email}" in previews[0].text
    assert signed_in.status_code == 303
    assert browser.http.get("/settings/email").status_code == 200
    assert _link_used(database, path)


def test_a_login_post_without_this_browsers_csrf_token_is_refused_and_spends_nothing(
    browser_for: Any, database: Pool, company: TestCompany, web: str
) -> None:
    path = _link(database, company)
    attacker = browser_for(company)
    attackers_csrf = _csrf_of(attacker.http.get(path))
    victim = browser_for(company)
    victim.http.get("/healthz")

    no_token = victim.http.post(path)
    forged = victim.http.post(path, data={"csrf": attackers_csrf})

    assert no_token.status_code == 403
    assert forged.status_code == 403
    assert "the link was not used" in forged.text
    assert victim.http.get("/settings/email").status_code == 401
    assert not _link_used(database, path)


def test_a_login_link_for_another_admin_says_who_is_signed_in_and_asks_before_replacing(
    browser: Browser, database: Pool, company: TestCompany, make_company: Any, web: str
) -> None:
    other = make_company()
    browser.login(database)
    first_session = browser.http.cookies[COOKIE]
    path = _link(database, other)

    confirm = browser.http.get(path)
    still = browser.http.get("/settings/email")
    switched = browser.http.post(path, data={"csrf": _csrf_of(confirm)})
    now = browser.http.get("/settings/email")
    with _with_cookie(web, first_session) as old_copy:
        old = old_copy.get("/settings/email")

    assert confirm.status_code == 200
    assert 'id="signed-in-as-another"' in confirm.text
    assert company.admin_email in confirm.text
    assert company.name in confirm.text
    assert f"Sign out and continue as {other.admin_email}" in confirm.text
    assert still.status_code == 200
    assert company.admin_email in still.text
    assert switched.status_code == 303
    assert other.admin_email in now.text
    assert company.admin_email not in now.text
    assert old.status_code == 401
    assert _sessions_of(database, company) == 0


def test_an_oauth_flow_started_before_signing_out_cannot_complete_in_that_session(
    browser: Browser,
    google_account: str,
    database: Pool,
    company: TestCompany,
    connections: Any,
) -> None:
    browser.login(database)
    url = browser.authorization_url()
    browser.http.post("/logout", data={"csrf": browser.csrf()})

    answer = browser.callback(browser.google_answers(url, google_account))

    assert answer.status_code == 403
    assert 'data-code="session_mismatch"' in answer.text
    assert connections.for_company(company.id) is None or (
        connection_of(connections, company).state != "active"
    )
