"""`Intake.publish_many`'s parts: every event of a batch validated before any is published (a
refusal names `[index].field`), and what it raises when RabbitMQ stops confirming midway."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from mailroute.core.errors import BrokerUnavailableError
from mailroute.events import EmailRequested, FieldProblem, InvalidEventError

if TYPE_CHECKING:
    from mailroute.services.intake import Accepted


class Validate(Protocol):
    def __call__(
        self,
        data: Mapping[str, Any] | EmailRequested,
        *,
        known_companies: set[str] | None = None,
    ) -> EmailRequested: ...


def validate_batch(
    validate: Validate, items: Sequence[Mapping[str, Any] | EmailRequested]
) -> list[EmailRequested]:
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        got = type(items).__name__
        raise InvalidEventError([FieldProblem("(events)", "list", f"got {got}")])
    events: list[EmailRequested] = []
    problems: list[FieldProblem] = []
    known: set[str] = set()
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(items):
        try:
            event = validate(item, known_companies=known)
        except InvalidEventError as exc:
            problems += [
                FieldProblem(f"[{index}].{p.field}", p.rule, p.message) for p in exc.problems
            ]
            continue
        except LookupError as exc:  # UnknownCompanyRequestError
            rule = str(getattr(exc, "rule", "known_company"))
            problems.append(FieldProblem(f"[{index}].company_id", rule, str(exc)))
            continue
        key = (event.company_id, event.event_id)
        if key in seen:
            problems.append(
                FieldProblem(
                    f"[{index}].event_id",
                    "unique_in_batch",
                    f"event id {event.event_id!r} is in this batch more than once",
                )
            )
        seen.add(key)
        events.append(event)
    if problems:
        raise InvalidEventError(problems)
    return events


class PartlyPublishedError(BrokerUnavailableError):
    """RabbitMQ stopped confirming during `publish_many`: `accepted` were published (every
    event before them too, in order); the rest were not."""

    def __init__(self, accepted: list[Accepted], total: int, cause: Exception) -> None:
        self.accepted = accepted
        super().__init__(
            f"{len(accepted)} of {total} events were published before RabbitMQ stopped"
            f" confirming ({cause}); publish the batch again: an event id is sent once"
        )
