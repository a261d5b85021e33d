"""25 MB emails go through a RabbitMQ node that refuses messages over 16 MiB: queue messages carry
ids ("claim check"), never the email.

On a private RabbitMQ node started with `max_message_size = 16777216` (RabbitMQ 4.x's default),
with its firehose on: a 25 MB email over HTTP, one through `mailroute.producer.publish` and one
through `mailroute send` are each sent with their attachments byte-identical, and 20 small emails
accepted after them are sent without waiting on them. Every message that the web app, the CLI,
`publish()`, a worker or the clock published is read back from the firehose: none exceeds
256 KiB, and `publish()` inlines an email only when it is under `PUBLISH_INLINE_BYTES`.

Figures: `.venv/bin/pytest tests/chaos/test_large_emails.py -s`, also in
`.run/large-email-figures.json`.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailroute import producer
from mailroute.adapters.db.pool import Pool
from mailroute.events import EmailRequested
from tests.chaos.services import (
    Firehose,
    PrivateRabbit,
    TracedMessage,
    firehose,
    private_rabbit,
    rabbit_config_value,
)
from tests.conftest import SandboxClient, TestCompany, email_request, worker_ready
from tests.stack import MAILROUTE, Process, free_port, http_ready, running, wait_for

pytestmark = pytest.mark.chaos

NODE_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
MAX_QUEUE_MESSAGE = 256 * 1024
# The documented default of mailroute.producer.PUBLISH_INLINE_BYTES, used to size the probes
# when the module does not (yet) say; the test asserts the module's own value.
DOCUMENTED_INLINE_BYTES = 128 * 1024
# What dramatiq wraps around an inlined EmailRequested (queue, actor, ids, options).
ENVELOPE_BYTES = 4 * 1024
MAX_EMAIL_BYTES = 25_000_000
# Two attachments of random bytes (compression hides nothing), bodies included: under 25 MB.
LARGE_ATTACHMENT_BYTES = 12_450_000
SMALL_EMAILS = 20
# Seconds after they were accepted: 1.3 s measured on 2 cores when nothing holds them up (the
# figure `large_unfinished_when_small_were_done` says whether the large ones were still going).
SMALL_EMAILS_SENT_WITHIN = 60.0
LARGE_EMAILS_SENT_WITHIN = 600.0  # 2 cores: each is stored, built and sent at 25 MB
FIGURES = Path(__file__).resolve().parents[2] / ".run" / "large-email-figures.json"

# `publish()` reads its settings from the environment and keeps its intake in a module global:
# each call runs in a fresh interpreter with the test's DATABASE_URL and RABBITMQ_URL.
PUBLISH_SCRIPT = """
import json, sys
from mailroute.producer import publish
for request in json.load(sys.stdin):
    try:
        print(json.dumps({"id": publish(request).email_id}), flush=True)
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
"""


@dataclass
class Sent:
    """An email the test requested, and what the sink must receive for it."""

    door: str
    rcpt: str
    subject: str
    attachments: list[tuple[str, bytes]]
    email_id: str = ""

    def expected_attachments(self) -> list[tuple[str, int, str]]:
        return sorted(
            (name, len(data), hashlib.sha256(data).hexdigest()) for name, data in self.attachments
        )

    def wire_attachments(self) -> list[dict[str, str]]:
        return [
            {
                "filename": name,
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(data).decode(),
            }
            for name, data in self.attachments
        ]

    def marks(self) -> list[bytes]:
        """Base64 of each attachment's first bytes: found in a queue message, it was inlined."""
        return [base64.b64encode(data[:3000]) for _, data in self.attachments]


def _large(door: str, company: TestCompany) -> Sent:
    tag = uuid.uuid4().hex[:6]
    return Sent(
        door,
        company.rcpt(f"large-{door}"),
        f"Large via {door} {tag}",
        [(f"{door}-{n}-{tag}.pdf", os.urandom(LARGE_ATTACHMENT_BYTES)) for n in (1, 2)],
    )


def _request(company: TestCompany, email: Sent, **fields: Any) -> dict[str, Any]:
    return email_request(
        company,
        event_id=f"large-{email.door}-{uuid.uuid4()}",
        sender="default",
        to=[email.rcpt],
        subject=email.subject,
        text=f"{email.door}: attached",
        html=None,
        attachments=email.wire_attachments(),
        **fields,
    )


def _wire_size(request: dict[str, Any]) -> int:
    """The EmailRequested's encoded JSON, as `publish()` would measure it (within a few bytes)."""
    wire = EmailRequested.parse(request).to_wire()
    return len(json.dumps(wire, separators=(",", ":"), default=str).encode())


def _publish(env: dict[str, str], requests: list[dict[str, Any]]) -> list[dict[str, str]]:
    done = subprocess.run(
        [sys.executable, "-c", PUBLISH_SCRIPT],
        input=json.dumps(requests),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(results) == len(requests), done.stderr[-3000:]
    return results


def _cli_send(env: dict[str, str], company: TestCompany, email: Sent, folder: Path) -> str:
    files = []
    for name, data in email.attachments:
        path = folder / name
        path.write_bytes(data)
        files += ["--attach", str(path)]
    done = subprocess.run(
        [
            MAILROUTE,
            "send",
            "--company",
            company.id,
            "--to",
            email.rcpt,
            "--subject",
            email.subject,
            "--text",
            "cli: attached",
            "--sender",
            "default",
            "--kind",
            "invoice",
            *files,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"mailroute send failed: {done.stderr[-3000:]}"
    email_id: str = json.loads(done.stdout.strip().splitlines()[-1])["id"]
    return email_id


def _statuses(api: httpx.Client, company: TestCompany, ids: list[str]) -> dict[str, str]:
    found = {}
    for email_id in ids:
        response = api.get(f"/v1/emails/{email_id}", headers=company.headers())
        found[email_id] = response.json()["status"] if response.status_code == 200 else "unknown"
    return found


def _until_final(
    api: httpx.Client, company: TestCompany, ids: list[str], timeout: float, what: str
) -> dict[str, str]:
    """Every email's status once all are sent or failed (polled, one deadline for all)."""
    final: dict[str, str] = {}

    def done() -> bool:
        pending = [email_id for email_id in ids if email_id not in final]
        for email_id, status in _statuses(api, company, pending).items():
            if status in ("sent", "failed"):
                final[email_id] = status
        return len(final) == len(ids)

    try:
        wait_for(done, timeout=timeout, interval=0.5, what=what)
    except AssertionError as exc:
        unfinished = _statuses(api, company, [i for i in ids if i not in final])
        raise AssertionError(f"{exc}; still unfinished: {unfinished}") from None
    return final


def _sink_attachments(sandbox: SandboxClient, rcpt: str) -> list[list[tuple[str, int, str]]]:
    """(filename, size, sha256) of the attachments of every message the sink got for `rcpt`
    (without their content: the sink reports sizes and digests)."""
    response = sandbox.http.get(
        "/_sandbox/smtp/messages", params={"rcpt": rcpt, "content": "false"}, timeout=120
    )
    response.raise_for_status()
    return [
        sorted((a["filename"], a["size"], a["sha256"]) for a in message["attachments"])
        for message in response.json()["messages"]
    ]


def _refused_publishes(rabbit: PrivateRabbit) -> int:
    """Publishes the node refused for their size (the firehose never sees those)."""
    return sum(
        path.read_text(errors="replace").count("is larger than configured max size")
        for path in (rabbit.home / "log").glob("*.log")
    )


def _figures(traced: list[TracedMessage]) -> dict[str, Any]:
    by_kind: dict[str, list[int]] = collections.defaultdict(list)
    for message in traced:
        by_kind[message.kind].append(message.size)
    return {
        "messages": len(traced),
        "max_bytes": max((m.size for m in traced), default=0),
        "per_kind": {
            kind: {"count": len(sizes), "max_bytes": max(sizes), "total_bytes": sum(sizes)}
            for kind, sizes in sorted(by_kind.items())
        },
    }


def _report(figures: dict[str, Any]) -> None:
    print("\nlarge emails: " + json.dumps(figures, indent=2))  # noqa: T201
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")


def _probe(hose: Firehose, rabbit: PrivateRabbit) -> None:
    """The firehose sees a publish on the default exchange (how dramatiq publishes), and nothing
    else is traced yet; the probe's copy is consumed here, so it is not measured."""
    import pika

    queue = f"test.probe.{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(rabbit.url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, auto_delete=True)
        channel.basic_publish("", queue, b'{"actor_name": "probe", "queue_name": "probe"}')
    finally:
        connection.close()
    seen: list[TracedMessage] = []

    def traced() -> bool:
        seen.extend(hose.drain())
        return bool(seen)

    wait_for(traced, timeout=10, interval=0.2, what="the firehose to trace the probe")
    assert [(m.exchange, m.routing_keys, m.actor_name) for m in seen] == [("", (queue,), "probe")]


@pytest.mark.timeout(1800)
def test_25_mb_emails_through_every_door_are_sent_by_reference_and_small_ones_do_not_wait(
    stack_env: dict[str, str],
    database: Pool,
    sandbox: SandboxClient,
    company: TestCompany,
    tmp_path: Path,
) -> None:
    limit = getattr(producer, "PUBLISH_INLINE_BYTES", None)
    sizing = limit if isinstance(limit, int) else DOCUMENTED_INLINE_BYTES
    http_email, publish_email, cli_email = (_large(d, company) for d in ("http", "publish", "cli"))
    large = [http_email, publish_email, cli_email]
    # publish()'s two sides of its limit: base64 makes 4 bytes of 3, so these encode to about
    # 0.6 and 1.13 times the limit.
    inline = Sent("inline", company.rcpt("inline"), "Just under the limit", [])
    inline.attachments = [("inline.pdf", os.urandom(int(sizing * 0.45)))]
    by_ref = Sent("by-reference", company.rcpt("byref"), "Just over the limit", [])
    by_ref.attachments = [("byref.pdf", os.urandom(int(sizing * 0.85)))]
    inline_request = _request(company, inline, company_id=company.id)
    by_ref_request = _request(company, by_ref, company_id=company.id)
    assert _wire_size(inline_request) <= sizing < _wire_size(by_ref_request)
    http_request = _request(company, http_email)
    assert EmailRequested.parse({**http_request, "company_id": company.id}).size <= MAX_EMAIL_BYTES

    figures: dict[str, Any] = {"inline_limit": limit, "max_allowed_bytes": MAX_QUEUE_MESSAGE}
    traced: list[TracedMessage] = []
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with private_rabbit(f"max_message_size = {NODE_MAX_MESSAGE_SIZE}") as rabbit:
        assert rabbit_config_value(rabbit, "max_message_size") == f"{{ok,{NODE_MAX_MESSAGE_SIZE}}}"
        env = {
            **stack_env,
            "RABBITMQ_URL": rabbit.url,
            "WEB_PORT": str(port),
            "PUBLIC_BASE_URL": base,
        }
        run = uuid.uuid4().hex[:6]
        worker = Process(
            f"large-worker-{run}", ["worker", "--processes", "2", "--threads", "8"], env
        )
        with firehose(rabbit) as hose:
            _probe(hose, rabbit)
            try:
                with (
                    running(
                        Process(f"large-web-{run}", ["web"], env), http_ready(base + "/healthz")
                    ),
                    running(Process(f"large-clock-{run}", ["clock"], env), None),
                    running(worker, lambda: worker_ready(worker, 2), timeout=60),
                    httpx.Client(base_url=base, timeout=300) as api,
                ):
                    _send_everything(
                        api,
                        env,
                        sandbox,
                        company,
                        tmp_path,
                        large,
                        http_request,
                        [inline_request, by_ref_request],
                        [inline, by_ref],
                        figures,
                    )
            finally:
                # Every process has stopped: all they published is in the firehose's queue.
                try:
                    traced = [m for m in hose.drain() if m.actor_name != "probe"]
                    figures["refused_for_size_by_the_node"] = _refused_publishes(rabbit)
                    figures.update(_figures(traced))
                    figures["inline_dispatch_bytes"] = [
                        m.size for m in traced if inline.marks()[0] in m.body
                    ]
                    _report(figures)
                except Exception as exc:  # noqa: BLE001 - never hide the failure that got here
                    print(f"\nlarge emails: could not read the firehose: {exc!r}")  # noqa: T201

    assert "messages" in figures, "the firehose could not be read"
    assert figures["refused_for_size_by_the_node"] == 0, "a process published over 16 MiB"
    too_large = [(m.kind, m.size) for m in traced if m.size > MAX_QUEUE_MESSAGE]
    assert not too_large, f"queue messages over {MAX_QUEUE_MESSAGE} bytes: {too_large}"
    for email in large:
        carrying = [m.kind for m in traced if any(mark in m.body for mark in email.marks())]
        assert not carrying, f"the {email.door} email's attachments went on a queue: {carrying}"
    every = [*large, inline, by_ref]
    sent_events = [m for m in traced if m.exchange == "mailroute.events"]
    for email in every:
        assert any(email.email_id.encode() in m.body for m in sent_events), (
            f"no outcome event traced for the {email.door} email: the firehose missed publishes"
        )

    assert isinstance(limit, int), "mailroute.producer.PUBLISH_INLINE_BYTES is not defined"
    assert _wire_size(inline_request) <= limit < _wire_size(by_ref_request)
    dispatch = [m for m in traced if m.actor_name == "mailroute.dispatch_email"]
    inlined = [m for m in dispatch if inline.marks()[0] in m.body]
    assert inlined, "publish() did not inline an email under PUBLISH_INLINE_BYTES"
    assert all(m.size <= limit + ENVELOPE_BYTES for m in inlined), [m.size for m in inlined]
    assert not [m.kind for m in traced if by_ref.marks()[0] in m.body], (
        "publish() inlined an email over PUBLISH_INLINE_BYTES"
    )
    assert all(m.size <= limit + ENVELOPE_BYTES for m in dispatch), (
        f"a dispatch message over PUBLISH_INLINE_BYTES: {max(m.size for m in dispatch)} bytes"
    )


def _send_everything(
    api: httpx.Client,
    env: dict[str, str],
    sandbox: SandboxClient,
    company: TestCompany,
    folder: Path,
    large: list[Sent],
    http_request: dict[str, Any],
    publish_probes: list[dict[str, Any]],
    probes: list[Sent],
    figures: dict[str, Any],
) -> None:
    http_email, publish_email, cli_email = large
    timed: dict[str, float] = {}

    def timing(name: str, call: Callable[[], Any]) -> Any:
        started = time.monotonic()
        result = call()
        timed[name] = round(time.monotonic() - started, 1)
        figures["accept_seconds"] = timed
        return result

    started = time.monotonic()
    response = timing(
        "http",
        lambda: api.post("/v1/emails", json=http_request, headers=company.headers()),
    )
    assert response.status_code == 202, response.text[:2000]
    http_email.email_id = response.json()["id"]

    results = timing(
        "publish",
        lambda: _publish(
            env, [_request(company, publish_email, company_id=company.id), *publish_probes]
        ),
    )
    assert all("id" in r for r in results), f"publish() refused: {results}"
    publish_email.email_id = results[0]["id"]
    for probe, result in zip(probes, results[1:], strict=True):
        probe.email_id = result["id"]

    cli_email.email_id = timing("cli", lambda: _cli_send(env, company, cli_email, folder))

    small_accepted = time.monotonic()
    small = []
    for i in range(SMALL_EMAILS):
        response = api.post(
            "/v1/emails",
            json=email_request(
                company,
                event_id=f"small-{i}-{uuid.uuid4()}",
                sender="default",
                to=[company.rcpt("small")],
                subject=f"Small {i}",
            ),
            headers=company.headers(),
        )
        assert response.status_code == 202, response.text
        small.append(response.json()["id"])
    timed["small_20"] = round(time.monotonic() - small_accepted, 1)

    small_final = _until_final(
        api, company, small, SMALL_EMAILS_SENT_WITHIN, f"the {SMALL_EMAILS} small emails"
    )
    figures["small_sent_seconds_after_accepted"] = round(time.monotonic() - small_accepted, 1)
    large_ids = [e.email_id for e in large]
    figures["large_unfinished_when_small_were_done"] = sum(
        status not in ("sent", "failed") for status in _statuses(api, company, large_ids).values()
    )
    assert set(small_final.values()) == {"sent"}, small_final

    every = [*large, *probes]
    final = _until_final(
        api, company, [e.email_id for e in every], LARGE_EMAILS_SENT_WITHIN, "the large emails"
    )
    figures["all_sent_seconds"] = round(time.monotonic() - started, 1)
    assert all(status == "sent" for status in final.values()), {
        e.door: final[e.email_id] for e in every
    }

    for email in every:
        received = wait_for(
            lambda email=email: _sink_attachments(sandbox, email.rcpt),
            timeout=60,
            interval=0.5,
            what=f"the {email.door} email in the SMTP sink",
        )
        assert received == [email.expected_attachments()], (
            f"the {email.door} email's attachments differ from what was sent (or it came twice)"
        )
    assert len(sandbox.smtp_messages(rcpt=company.rcpt("small"))) == SMALL_EMAILS
