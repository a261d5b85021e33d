"""What mailroute keeps, for how long, and what it deletes after: the rules and their ports.
`adapters.db.retention` runs them in SQL, `services.retention` on the clock's schedule.

Kept for as long as the company exists: an email's record (status, outcome, subject,
recipients, attachments' names, types, sizes and sha256), companies, users, keys, connections,
and the one notice per break (its row is what makes the notice single).

Deleted, in batches of at most `RetentionPolicy.batch` rows a statement, as many a clock tick
as `RetentionPolicy.budget_seconds` allows (`content` is RETENTION_DAYS, `outbox`
OUTBOX_RETENTION_DAYS):

- an ended email's bodies and its attachments' bytes (`content_purged_at` is set): `content`
  after its outcome; for an email failed `dead_lettered`, also not before its dead message
  expired from `<queue>.XQ` (until then it may be replayed);
- published outbox rows: `outbox` after publication; one the broker refused, `content`;
- rejected messages (they may hold a whole event): `content` after they came;
- dead-letter reasons: `content`, and not before their message expired from `<queue>.XQ`;
- delivered or failed webhook deliveries, with their attempts: `content` after they ended;
- settled revocations (confirmed or dropped: they keep no token): `content` after, at once
  when their company is gone;
- OAuth states, login links and rate-limit windows a day after they stopped counting; browser
  sessions when they expire.

Nothing that has not ended is purged: an email `accepted`, `queued`, `sending` or `retrying`
keeps its content whatever its age.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from mailroute.core.abandoned import DEAD_LETTERED
from mailroute.core.errors import PermanentError

FINAL_STATUSES = frozenset({"sent", "failed"})
# Expired or spent rows are kept this long (a late callback or link is told it expired).
SPENT_GRACE = timedelta(days=1)
# How long RabbitMQ keeps a dead message in `<queue>.XQ` (dramatiq's dead_message_ttl).
DEAD_MESSAGE_TTL = timedelta(days=7)
# Rows one statement deletes or purges at most (one short transaction, a few milliseconds).
BATCH_ROWS = 500
# The time a tick may spend on statements while something is behind: the clock's other jobs
# wait meanwhile, so it is a fraction of the interval. 2 s of 500-row statements prune tens of
# thousands of rows; arrivals at 100 emails a second are a few thousand per interval.
PRUNE_BUDGET = timedelta(seconds=2)
# The clock prunes at least this often, and at most as often as the shortest age allows.
PRUNE_EVERY = timedelta(seconds=10)
PRUNE_AT_MOST_EVERY = timedelta(seconds=1)


class Prune(StrEnum):
    """Each thing pruned; one statement each in `adapters.db.retention`."""

    EMAIL_CONTENT = "email_content"
    DEAD_LETTERED_CONTENT = "dead_lettered_content"
    PUBLISHED_OUTBOX = "published_outbox"
    REFUSED_OUTBOX = "refused_outbox"
    REJECTED_MESSAGES = "rejected_messages"
    DEAD_LETTERS = "dead_letters"
    WEBHOOK_DELIVERIES = "webhook_deliveries"
    SETTLED_REVOCATIONS = "settled_revocations"
    ORPHANED_REVOCATIONS = "orphaned_revocations"
    OAUTH_STATES = "oauth_states"
    LOGIN_LINKS = "login_links"
    RATE_LIMITS = "rate_limits"
    BROWSER_SESSIONS = "browser_sessions"


@dataclass(frozen=True)
class RetentionPolicy:
    content: timedelta = timedelta(days=30)  # RETENTION_DAYS
    outbox: timedelta = timedelta(days=1)  # OUTBOX_RETENTION_DAYS
    dead_message_ttl: timedelta = DEAD_MESSAGE_TTL
    batch: int = BATCH_ROWS
    budget_seconds: float = PRUNE_BUDGET.total_seconds()

    @classmethod
    def from_days(cls, content_days: float, outbox_days: float) -> RetentionPolicy:
        return cls(content=timedelta(days=content_days), outbox=timedelta(days=outbox_days))

    @property
    def replayable(self) -> timedelta:
        """A dead-lettered email's content (and the reason of its dead message) is kept as long
        as its message can still be replayed, and at least `content`."""
        return max(self.content, self.dead_message_ttl)

    def ages(self) -> dict[Prune, timedelta]:
        """How old each thing must be before it is pruned."""
        return {
            Prune.EMAIL_CONTENT: self.content,
            Prune.DEAD_LETTERED_CONTENT: self.replayable,
            Prune.PUBLISHED_OUTBOX: self.outbox,
            Prune.REFUSED_OUTBOX: max(self.content, self.outbox),
            Prune.REJECTED_MESSAGES: self.content,
            Prune.DEAD_LETTERS: self.replayable,
            Prune.WEBHOOK_DELIVERIES: self.content,
            Prune.SETTLED_REVOCATIONS: self.content,
            Prune.ORPHANED_REVOCATIONS: timedelta(0),
            Prune.OAUTH_STATES: SPENT_GRACE,
            Prune.LOGIN_LINKS: SPENT_GRACE,
            Prune.RATE_LIMITS: SPENT_GRACE,
            Prune.BROWSER_SESSIONS: timedelta(0),
        }

    @property
    def every_seconds(self) -> float:
        """How often the clock prunes: every 10 seconds, or twice per shortest retention when
        that is shorter (a test's seconds), never more than once a second."""
        half = min(self.content, self.outbox) / 2
        return max(min(PRUNE_EVERY, half), PRUNE_AT_MOST_EVERY).total_seconds()


def content_purgeable(
    status: str, error_code: str | None, ended_at: datetime, now: datetime, policy: RetentionPolicy
) -> bool:
    """Whether an email's bodies and attachments are deleted now: it ended (`ended_at` is the
    time of its outcome) longer ago than the policy keeps content, or, failed `dead_lettered`,
    longer ago than its dead message can be replayed. The SQL of `Prune.EMAIL_CONTENT` and
    `Prune.DEAD_LETTERED_CONTENT` asks the same."""
    if status not in FINAL_STATUSES:
        return False
    dead = status == "failed" and error_code == DEAD_LETTERED
    return now - ended_at > (policy.replayable if dead else policy.content)


class ContentPurgedError(PermanentError):
    """The email's bodies and attachments were deleted after its retention: it cannot be
    sent again."""

    code = "content_purged"

    def __init__(self, purged_at: datetime) -> None:
        super().__init__(
            f"the email's bodies and attachments were deleted on"
            f" {purged_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC,"
            " after its retention (RETENTION_DAYS); it cannot be sent again: request a new email"
        )
        self.purged_at = purged_at


class RetentionStore(Protocol):
    """Deletes one batch of what `what` names, older than `older_than`; how many rows."""

    def prune(self, what: Prune, *, older_than: timedelta, limit: int) -> int: ...


class CompanyEraser(Protocol):
    """Deletes a company and every row of it, in one transaction; False when it is unknown."""

    def erase(self, company_id: str) -> bool: ...
