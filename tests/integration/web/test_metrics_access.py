"""`/metrics` is protectable and cheap: with METRICS_TOKEN set a scrape needs the bearer token
(else 401 naming `Authorization` and the rule `metrics_token`), and the gauges read from
PostgreSQL are read at most once every few seconds however often it is scraped."""

from __future__ import annotations

from typing import Any

import httpx

from mailroute.web.metrics import GAUGES_TTL_SECONDS
from tests.conftest import TestCompany, email_request, wait_for
from tests.integration.web.conftest import METRICS_TOKEN, WebProcess


def _emails_total(scrape: httpx.Response) -> float:
    """The sum of the `mailroute_emails` gauge: every email stored, whatever its status."""
    assert scrape.status_code == 200, scrape.text
    return sum(
        float(line.rpartition(" ")[2])
        for line in scrape.text.splitlines()
        if line.startswith("mailroute_emails{")
    )


def test_a_scrape_without_the_metrics_token_is_refused(own_web: WebProcess) -> None:
    with httpx.Client(base_url=own_web.url, timeout=30.0) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        right = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    for refused in (missing, wrong):
        assert refused.status_code == 401
        [field] = refused.json()["error"]["fields"]
        assert field["field"] == "Authorization"
        assert field["rule"] == "metrics_token"
        assert "mailroute_emails" not in refused.text
    assert right.status_code == 200
    assert "mailroute_http_requests_total" in right.text


def _stored(database: Any) -> int:
    with database.connection() as conn:
        return int(conn.execute("SELECT count(*) AS n FROM emails").fetchone()["n"])


def test_scrapes_within_a_few_seconds_answer_one_read_of_the_database_gauges(
    own_web: WebProcess, api: httpx.Client, company: TestCompany, database: Any
) -> None:
    def send() -> int:
        accepted = api.post("/v1/emails", headers=company.headers(), json=email_request(company))
        assert accepted.status_code == 202, accepted.text
        return _stored(database)

    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    with httpx.Client(base_url=own_web.url, timeout=30.0, headers=auth) as scraper:

        def scraped(total: int) -> bool:
            return _emails_total(scraper.get("/metrics")) == total

        # The scrape that first shows this email is the one that read the database.
        first = send()
        wait_for(lambda: scraped(first), timeout=20, interval=0.2, what="a fresh read")
        stored = send()
        burst = [_emails_total(scraper.get("/metrics")) for _ in range(20)]
        wait_for(
            lambda: scraped(stored),
            timeout=GAUGES_TTL_SECONDS * 3,
            interval=0.2,
            what="the gauges to be read again after a few seconds",
        )

    assert burst == [stored - 1] * len(burst)
