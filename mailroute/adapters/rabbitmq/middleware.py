"""The worker middleware of ours: log context per message (who and what, one line per message
with its outcome), dead letters recorded, a message redelivered too often failed, queues
declared and the process warmed up as it boots."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import dramatiq
import structlog
from dramatiq.middleware import Middleware, SkipMessage

from mailroute.adapters.rabbitmq.queue_types import QueueTypeMismatchError
from mailroute.core.abandoned import DeadLetter

log = structlog.get_logger("mailroute.worker")


class LogContext(Middleware):
    """First in the chain: its before-hook runs first and its after-hook last."""

    def __init__(self) -> None:
        self._local = threading.local()

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        structlog.contextvars.clear_contextvars()
        first = message.args[0] if message.args else None
        fields: dict[str, Any] = {
            "message_id": message.message_id,
            "actor": message.actor_name,
            "queue": message.queue_name,
            "retries": message.options.get("retries", 0),
        }
        correlation_id = message.options.get("correlation_id")
        if isinstance(first, str):  # an email id: route, send
            fields["email_id"] = first[:64]
        elif isinstance(first, dict):  # an event: EmailRequested, AuthBroken
            for key in ("company_id", "connection_id"):
                if key in first:
                    fields[key] = str(first[key])[:64]
            correlation_id = correlation_id or first.get("correlation_id")
        # One id per email from intake on: the message's, else its event's, else (a raw message
        # with neither) its message id. Written back to the options, so the actor, a retry and
        # whatever the actor queues all carry the same id.
        fields["correlation_id"] = str(correlation_id or message.message_id)[:100]
        message.options["correlation_id"] = fields["correlation_id"]
        if getattr(message, "redelivered", False):
            fields["redelivered"] = True
        structlog.contextvars.bind_contextvars(**fields)
        self._local.started = time.monotonic()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started = getattr(self._local, "started", None)
        duration_ms = round((time.monotonic() - started) * 1000, 1) if started else None
        if exception is None:
            log.info("message.done", outcome="ok", duration_ms=duration_ms)
        else:
            log.warning(
                "message.done",
                outcome="error",
                error=type(exception).__name__,
                detail=str(exception)[:500],
                duration_ms=duration_ms,
            )
        structlog.contextvars.clear_contextvars()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        structlog.contextvars.clear_contextvars()


class DeadLetterRecorder(Middleware):
    """Hands every message dramatiq gives up on (retries exhausted, an error never retried,
    too old) to `record`: it records why, so `mailroute dlq list` can say it next to the
    message, and ends the email the message carried (`services.dead_letters`). Runs after
    `Retries` has decided (after-hooks run in reverse order), in the worker thread."""

    def __init__(self, record: Callable[[DeadLetter], None]) -> None:
        self._record = record

    def _dead(
        self, broker: dramatiq.Broker, message: Any, reason: str, error: BaseException | None
    ) -> None:
        options = message.options
        retries = int(options.get("retries", 0))
        if error is not None and not isinstance(error, _thrown(broker, message)):
            retries -= 1  # Retries counted the attempt that just failed (not for `throws`)
        dead = DeadLetter(
            message_id=message.message_id,
            queue=message.queue_name,
            actor=message.actor_name,
            args=tuple(message.args),
            retries=max(retries, 0),
            reason=reason,
            error=error,
            correlation_id=options.get("correlation_id"),
        )
        try:
            self._record(dead)
        except Exception:
            log.exception("dead_letter.not_recorded", message_id=message.message_id)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is not None and getattr(message, "failed", False):
            self._dead(broker, message, f"{type(exception).__name__}: {exception}", exception)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if getattr(message, "failed", False):
            reason = getattr(message, "skip_reason", None) or "too old (age limit) or skipped"
            self._dead(broker, message, reason, None)


def _thrown(broker: dramatiq.Broker, message: Any) -> tuple[type[BaseException], ...]:
    """The exceptions the message's actor `throws`: failed at once, never counted a retry."""
    try:
        throws = message.options.get("throws") or broker.get_actor(message.actor_name).options.get(
            "throws"
        )
    except dramatiq.errors.ActorNotFound:
        return ()
    if not throws:
        return ()
    return throws if isinstance(throws, tuple) else (throws,)


class RedeliveryLimit(Middleware):
    """A message RabbitMQ delivers for the `limit`-th time without any acknowledgement before
    (`x-delivery-count`: each worker that took it died, or lost its connection, first) is not
    run again: it fails, as a message dramatiq gave up on, so `DeadLetterRecorder` records why
    and ends its email, and RabbitMQ dead-letters it to `<queue>.XQ`. It is most likely the
    message that kills its workers. A quorum queue's `x-delivery-limit` is the same number, the
    backstop should this last delivery die too; classic queues count nothing (always 0)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        count = int(getattr(message, "delivery_count", 0) or 0)
        if count < self._limit:
            return
        message.skip_reason = (
            f"RedeliveredTooOften: delivered {count + 1} times and never acknowledged: each"
            " worker that took it died (or lost its connection) first, so it may be what"
            " kills them"
        )
        log.error("message.redelivered_too_often", deliveries=count + 1)
        message.fail()
        raise SkipMessage


class DeclareQueuesAtBoot(Middleware):
    """Declares every queue this worker's broker knows (each actor's, whatever its name) as the
    worker process boots, before its threads take messages. A queue that exists with other
    arguments than RABBITMQ_QUEUE_TYPE asks for stops the process at once with the reason
    (exit code 3), instead of consumers that fail and restart for ever; a broker that cannot be
    reached is left to the consumers, which wait for it."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        try:
            declared = broker.declare_now(sorted(broker.get_declared_queues()))  # type: ignore[attr-defined]
        except QueueTypeMismatchError as exc:
            log.critical("worker.queue_type_mismatch", error=str(exc))
            raise SystemExit(3) from exc
        if not declared:
            log.warning("worker.queues_not_declared", reason="RabbitMQ cannot be reached")


class WarmUp(Middleware):
    """Runs `warm` as the worker process boots, before its threads take messages, so that
    "ready for action" means ready. A failure is logged; the first message builds again."""

    def __init__(self, warm: Callable[[], object]) -> None:
        self._warm = warm

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        started = time.monotonic()
        try:
            self._warm()
        except Exception:  # whatever it was, the first message builds again
            log.warning("worker.warm_up_failed", exc_info=True)
            return
        log.info("worker.warmed_up", duration_ms=round((time.monotonic() - started) * 1000, 1))
