"""Shared fixtures. Integration and e2e tests run against the real PostgreSQL and RabbitMQ of this
machine, in their own database (`mailroute_test`) and RabbitMQ vhost (`mailroute_test`), so a
running `make run` stack is never disturbed; the sandbox and mailroute's processes are started as
child processes on free ports.
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.migrations import apply_migrations, ensure_database
from mailroute.adapters.db.pool import Pool, make_pool
from mailroute.config.settings import Settings
from tests.stack import RUN_ID, Process, free_port, http_ready, running, wait_for

# Each test session gets its own database and RabbitMQ vhost, so sessions running side by side
# (and a `make run` stack) never consume each other's messages; both are removed at the end.
TEST_DB = os.environ.get("MAILROUTE_TEST_DATABASE", f"mailroute_test_{RUN_ID}")
TEST_VHOST = os.environ.get("MAILROUTE_TEST_VHOST", f"mailroute_test_{RUN_ID}")
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n" + bytes(
    range(256)
)


def _delete_vhost(vhost: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, check=False)


def _drop_database(url: str) -> None:
    import psycopg

    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(str(name))
            )
        )


def _ensure_vhost(vhost: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], capture_output=True, check=False)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        capture_output=True,
        check=True,
    )


@pytest.fixture(scope="session")
def sandbox_ports() -> tuple[int, int]:
    return free_port(), free_port()


@pytest.fixture(scope="session")
def microsoft_sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """The sandbox's Microsoft TLS listener: its port, and where the sandbox writes its CA (an
    empty file until the sandbox starts, so the settings that name it are valid before)."""
    ca_file = tmp_path_factory.mktemp("microsoft") / "sandbox-microsoft-ca.pem"
    ca_file.touch()
    return free_port(), ca_file


@pytest.fixture(scope="session")
def web_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def settings(
    sandbox_ports: tuple[int, int], web_port: int, microsoft_sandbox: tuple[int, Path]
) -> Settings:
    http_port, smtp_port = sandbox_ports
    microsoft_port, ca_file = microsoft_sandbox
    env = {
        "SANDBOX_MICROSOFT_URL": f"https://127.0.0.1:{microsoft_port}",
        "MICROSOFT_CA_FILE": str(ca_file),
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{TEST_DB}",
        "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:5672/{TEST_VHOST}",
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "SANDBOX_BASE_URL": f"http://127.0.0.1:{http_port}",
        "SANDBOX_SMTP_PORT": str(smtp_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        "WEB_PORT": str(web_port),
        "SMTP_TIMEOUT_SECONDS": "5",
        "LOG_FORMAT": "json",
    }
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def stack_env(settings: Settings) -> dict[str, str]:
    """The environment every child process of the test stack gets."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "RABBITMQ_URL": settings.rabbitmq_url,
            "SMTP_URL": settings.smtp_url,
            "SANDBOX_BASE_URL": settings.sandbox_base_url,
            "SANDBOX_SMTP_PORT": str(settings.sandbox_smtp_port),
            "PUBLIC_BASE_URL": settings.public_base_url,
            "WEB_PORT": str(settings.web_port),
            "SMTP_TIMEOUT_SECONDS": str(settings.smtp_timeout_seconds),
            "LOG_FORMAT": "json",
            "WORKER_METRICS_PORT": "0",
            "SANDBOX_REDIRECT_URIS": f"{settings.public_base_url}/oauth/google/callback",
            "SANDBOX_MICROSOFT_URL": settings.sandbox_microsoft_url,
            "SANDBOX_MICROSOFT_PORT": str(urlsplit(settings.sandbox_microsoft_url).port),
            "SANDBOX_MICROSOFT_CA_FILE": settings.microsoft.ca_file,
            "MICROSOFT_CA_FILE": settings.microsoft.ca_file,
            "OAUTHLIB_INSECURE_TRANSPORT": "1",
        }
    )
    return env


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Pool]:
    ensure_database(settings.database_url)
    apply_migrations(settings.database_url)
    pool = make_pool(settings, max_size=4)
    pool.open(wait=True, timeout=10)
    yield pool
    pool.close()
    if "MAILROUTE_TEST_DATABASE" not in os.environ and not os.environ.get("MAILROUTE_KEEP_TEST_DB"):
        _drop_database(settings.database_url)


@pytest.fixture(scope="session")
def broker_vhost(settings: Settings) -> Iterator[str]:
    _ensure_vhost(TEST_VHOST)
    yield TEST_VHOST
    if "MAILROUTE_TEST_VHOST" not in os.environ:
        _delete_vhost(TEST_VHOST)


@pytest.fixture(scope="session")
def sandbox(stack_env: dict[str, str], settings: Settings) -> Iterator[SandboxClient]:
    process = Process("sandbox", ["sandbox"], stack_env)
    with running(process, http_ready(settings.sandbox_base_url + "/_sandbox/smtp/messages")):
        client = SandboxClient(settings.sandbox_base_url, process)
        try:
            yield client
        finally:
            client.http.close()


@pytest.fixture(scope="session")
def worker(
    stack_env: dict[str, str], database: Pool, broker_vhost: str, sandbox: SandboxClient
) -> Iterator[Process]:
    """Two worker processes for every queue, as ops would run them."""
    process = Process("worker", ["worker", "--processes", "2", "--threads", "8"], stack_env)
    with running(process, lambda: worker_ready(process, 2)):
        yield process


def worker_ready(process: Process, processes: int) -> bool:
    try:
        text = process.log_path.read_text(errors="replace")
    except OSError:
        return False
    if not process.alive():
        raise AssertionError(f"worker exited:\n{process.log_tail()}")
    return text.count("Worker process is ready for action") >= processes


@pytest.fixture(scope="session")
def web(
    stack_env: dict[str, str], settings: Settings, database: Pool, broker_vhost: str
) -> Iterator[str]:
    process = Process("web", ["web"], stack_env)
    with running(process, http_ready(settings.public_base_url + "/healthz")):
        yield settings.public_base_url


@pytest.fixture
def api(web: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web, timeout=30.0) as client:
        yield client


class SandboxClient:
    """The sandbox's /_sandbox/ controls, as tests use them."""

    def __init__(self, base_url: str, process: Process | None = None) -> None:
        self.base_url = base_url
        self.process = process
        self.http = httpx.Client(base_url=base_url, timeout=30.0)

    def smtp_messages(self, rcpt: str | None = None) -> list[dict[str, Any]]:
        params = {"rcpt": rcpt} if rcpt else None
        response = self.http.get("/_sandbox/smtp/messages", params=params)
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    def smtp_fail_next(self, count: int, code: int, message: str = "try again later") -> None:
        response = self.http.post(
            "/_sandbox/smtp/fail-next", json={"count": count, "code": code, "message": message}
        )
        response.raise_for_status()

    def post(self, path: str, **json: Any) -> dict[str, Any]:
        response = self.http.post(path, json=json)
        response.raise_for_status()
        result: dict[str, Any] = response.json() if response.content else {}
        return result

    def get(self, path: str) -> Any:
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()


@dataclass(frozen=True)
class TestCompany:
    __test__ = False  # a fixture value, not a test class

    id: str
    name: str
    reply_to: str
    admin_email: str
    admin_key: str
    sender_key: str
    tag: str

    def rcpt(self, local: str = "client") -> str:
        """A recipient address unique to this company, so tests never see each other's mail."""
        return f"{local}+{self.tag}@example.com"

    def headers(self, role: str = "admin") -> dict[str, str]:
        key = self.admin_key if role == "admin" else self.sender_key
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def make_company(database: Pool) -> Any:
    companies = PostgresCompanies(database)

    def make(name: str | None = None) -> TestCompany:
        tag = uuid.uuid4().hex[:10]
        name = name or f"Acme {tag} Ltd"
        company = companies.create(name, f"billing+{tag}@acme.example")
        admin_email = f"admin+{tag}@acme.example"
        admin_id = companies.add_user(company.id, admin_email, "admin")
        return TestCompany(
            id=company.id,
            name=name,
            reply_to=company.reply_to,
            admin_email=admin_email,
            admin_key=companies.create_api_key(company.id, "admin", user_id=admin_id),
            sender_key=companies.create_api_key(company.id, "sender"),
            tag=tag,
        )

    return make


@pytest.fixture
def company(make_company: Any) -> TestCompany:
    result: TestCompany = make_company()
    return result


def email_request(company: TestCompany, **overrides: Any) -> dict[str, Any]:
    """A valid email request for `company`, with a PDF attachment."""
    body: dict[str, Any] = {
        "event_id": f"evt-{uuid.uuid4()}",
        "kind": "invoice",
        "to": [f"Jane Client <{company.rcpt()}>"],
        "subject": "Invoice 2026-0042",
        "text": "Hello Jane,\nplease find invoice 2026-0042 attached.\n",
        "html": "<p>Hello Jane,</p><p>please find invoice <b>2026-0042</b> attached.</p>",
        "attachments": [
            {
                "filename": "invoice-2026-0042.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(PDF).decode(),
            }
        ],
    }
    body.update(overrides)
    return body


__all__ = ["PDF", "SandboxClient", "TestCompany", "email_request", "wait_for"]


@pytest.fixture(scope="session")
def broker(settings: Settings, broker_vhost: str) -> Iterator[Any]:
    """A RabbitMQ broker on the test vhost, for tests that put messages on queues directly."""
    from mailroute.adapters.rabbitmq.broker import build_broker

    rabbit = build_broker(settings.rabbitmq_url, worker=False)
    yield rabbit
    rabbit.close()


def queue_depth(rabbitmq_url: str, queue: str) -> int:
    """Messages ready in `queue` (0 when it does not exist yet)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        try:
            return int(channel.queue_declare(queue, passive=True).method.message_count)
        except pika.exceptions.ChannelClosedByBroker:
            return 0
    finally:
        connection.close()


def final_email(
    api: httpx.Client, company: TestCompany, email_id: str, timeout: float = 20
) -> dict[str, Any]:
    """Poll GET /v1/emails/{id} until the email is sent or failed."""

    def done() -> dict[str, Any] | None:
        response = api.get(f"/v1/emails/{email_id}", headers=company.headers())
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if body["status"] in ("sent", "failed") else None

    result: dict[str, Any] = wait_for(done, timeout=timeout, what=f"email {email_id} to finish")
    return result
