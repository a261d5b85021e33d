"""A database and a RabbitMQ vhost of one test's own, on the session's PostgreSQL and RabbitMQ,
for tests that start, kill and restart mailroute's processes, run the clock's sweeps or use
other token keys: nothing they do reaches the session's database, queues or worker (the
sandbox is shared; each test uses accounts and recipients of its own)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pika
import psycopg
from psycopg import sql

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.migrations import apply_migrations, ensure_database
from mailroute.adapters.db.pool import Pool, make_pool
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute.config.settings import Settings
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import TestCompany
from tests.google_sign_in import connect_for_real
from tests.stack import MAILROUTE, RUN_ID, Process, free_port, http_ready, wait_for


@dataclass
class PrivateStack:
    env: dict[str, str]
    settings: Settings
    pool: Pool
    vhost: str
    processes: list[Process] = field(default_factory=list)
    clients: list[httpx.Client] = field(default_factory=list)

    def company(self) -> TestCompany:
        companies = PostgresCompanies(self.pool)
        tag = uuid.uuid4().hex[:10]
        company = companies.create(f"Private {tag} Ltd", f"billing+{tag}@acme.example")
        admin_email = f"admin+{tag}@acme.example"
        admin_id = companies.add_user(company.id, admin_email, "admin")
        return TestCompany(
            id=company.id,
            name=company.name,
            reply_to=company.reply_to,
            admin_email=admin_email,
            admin_key=companies.create_api_key(company.id, "admin", user_id=admin_id),
            sender_key=companies.create_api_key(company.id, "sender"),
            tag=tag,
        )

    def connect_gmail(
        self, company: TestCompany, google: GoogleSandbox, *, keys: tuple[str, ...] = ()
    ) -> str:
        """Sign the company in with a sandbox account of its own, for real, its tokens
        encrypted under `keys` (the stack's by default); the address."""
        account = f"owner.{company.tag}@acme-sandbox.test"
        google.add_account(account, name=f"Owner {company.tag}")
        cipher = TokenCipher(keys or self.settings.token_encryption_keys)
        connect_for_real(
            GoogleOAuth(self.settings),
            google,
            PostgresConnections(self.pool, cipher),
            company_id=company.id,
            account=account,
            connected_by=None,
        )
        return account

    def start(self, name: str, args: list[str], **env: str) -> Process:
        process = Process(f"{name}-{uuid.uuid4().hex[:6]}", args, {**self.env, **env}).start()
        self.processes.append(process)
        return process

    def worker(self, *, queues: tuple[str, ...] = (), **env: str) -> Process:
        """One worker process (2 threads), ready; only `queues` when given."""
        args = ["worker", "--processes", "1", "--threads", "2"]
        if queues:
            args += ["--queues", ",".join(queues)]
        process = self.start("private-worker", args, **env)

        def ready() -> bool:
            if not process.alive():
                raise AssertionError(f"worker exited:\n{process.log_tail()}")
            return "Worker process is ready for action" in process.log_path.read_text(
                errors="replace"
            )

        wait_for(ready, timeout=30, what="the private worker")
        return process

    def web(self, **env: str) -> httpx.Client:
        """The web app on this stack, started and ready; a client for it (closed with the
        stack)."""
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        process = self.start(
            "private-web", ["web"], WEB_PORT=str(port), PUBLIC_BASE_URL=base_url, **env
        )
        wait_for(http_ready(base_url + "/healthz"), timeout=30, what="the private web app")
        assert process.alive()
        client = httpx.Client(base_url=base_url, timeout=30.0)
        self.clients.append(client)
        return client

    def send(self, company: TestCompany, **options: str) -> str:
        """`mailroute send` for the company (to its own recipient); the email id."""
        args = ["send", "--company", company.id, "--to", company.rcpt(), "--kind", "invoice"]
        args += ["--subject", "Invoice 2026-0042", "--text", "Hello Jane"]
        for name, value in options.items():
            args += [f"--{name.replace('_', '-')}", value]
        done = subprocess.run(
            [MAILROUTE, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        email_id: str = json.loads(done.stdout)["id"]
        return email_id

    @contextlib.contextmanager
    def outcomes(self) -> Iterator[Callable[[], list[tuple[str, dict[str, Any]]]]]:
        """A producer's queue bound to every email outcome on this stack's vhost."""
        with self._channel() as channel:
            exchange = self.settings.events_exchange
            channel.exchange_declare(exchange, exchange_type="topic", durable=True)
            queue = f"outcomes-{uuid.uuid4().hex[:8]}"
            channel.queue_declare(queue, exclusive=True)
            channel.queue_bind(queue, exchange, routing_key="email.*")
            seen: list[tuple[str, dict[str, Any]]] = []

            def events() -> list[tuple[str, dict[str, Any]]]:
                while True:
                    method, _properties, body = channel.basic_get(queue, auto_ack=True)
                    if method is None:
                        return seen
                    seen.append((method.routing_key, json.loads(body)))

            yield events

    def email_row(self, email_id: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            row: dict[str, Any] | None = conn.execute(
                "SELECT * FROM emails WHERE id = %s", (email_id,)
            ).fetchone()
        return row

    def queue_depth(self, queue: str) -> int:
        with self._channel() as channel:
            return int(channel.queue_declare(queue, passive=True).method.message_count)

    def purge(self, queue: str) -> None:
        """The queue's messages are lost (as with a broker's disk)."""
        with self._channel() as channel:
            channel.queue_purge(queue)

    @contextlib.contextmanager
    def _channel(self) -> Iterator[Any]:
        connection = pika.BlockingConnection(pika.URLParameters(self.settings.rabbitmq_url))
        try:
            yield connection.channel()
        finally:
            connection.close()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, check=False)


@contextlib.contextmanager
def private_stack(stack_env: dict[str, str], **env: str) -> Iterator[PrivateStack]:
    """A fresh database (migrated) and vhost; `env` adds to the processes' environment."""
    name = f"mailroute_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    base = Settings.from_env(stack_env)
    database_url = urlunsplit(urlsplit(base.database_url)._replace(path=f"/{name}"))
    rabbitmq_url = base.rabbitmq_url.rsplit("/", 1)[0] + f"/{name}"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    stack: PrivateStack | None = None
    try:
        ensure_database(database_url)
        apply_migrations(database_url)
        full_env = {
            **stack_env,
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": rabbitmq_url,
            "DB_POOL_SIZE": "3",  # a few threads a process: leave the server's connections
            **env,
        }
        settings = Settings.from_env(full_env)
        pool = make_pool(settings, max_size=4)
        pool.open(wait=True, timeout=10)
        stack = PrivateStack(full_env, settings, pool, name)
        yield stack
    finally:
        if stack is not None:
            for client in stack.clients:
                client.close()
            for process in stack.processes:
                process.stop()
            stack.pool.close()
        _rabbitmqctl("delete_vhost", name)
        admin = psycopg.conninfo.make_conninfo(base.database_url, dbname="postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
