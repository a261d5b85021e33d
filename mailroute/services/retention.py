"""The clock's pruning: each thing `core.retention` names, in batches, a few a tick.

A prune runs at most `statements_per_tick` statements of at most `batch` rows each, and stops
as soon as one finds fewer than a batch: at steady state one short statement per thing a tick;
behind (the first run on a large database, or after a month-end), a bounded amount of work a
tick, never one long transaction.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from mailroute.core.retention import Prune, RetentionPolicy, RetentionStore

log = structlog.get_logger(__name__)


class RetentionPruner:
    def __init__(self, store: RetentionStore, policy: RetentionPolicy) -> None:
        self._store = store
        self._policy = policy

    @property
    def every_seconds(self) -> float:
        return self._policy.every_seconds

    def prune_once(self) -> dict[Prune, int]:
        """One tick: how many rows of each thing were deleted or purged."""
        pruned = {what: self._prune(what, age) for what, age in self._policy.ages().items()}
        done = {str(what): count for what, count in pruned.items() if count}
        if done:
            log.info("retention.pruned", **done)
        return pruned

    def _prune(self, what: Prune, older_than: timedelta) -> int:
        total = 0
        for _ in range(self._policy.statements_per_tick):
            count = self._store.prune(what, older_than=older_than, limit=self._policy.batch)
            total += count
            if count < self._policy.batch:
                break
        return total
