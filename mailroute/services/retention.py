"""The clock's pruning: each thing `core.retention` names, in batches, within a time budget.

A tick takes turns: one statement of at most `batch` rows per thing, then again for each thing
whose statement came back full, until every thing is caught up or the tick's `budget` is
spent. At steady state that is one short statement per thing a tick; behind (the first run on
a large database, after a month-end, or arrivals faster than one batch a tick), as many batches
as the budget allows, shared fairly between the things behind — never one long transaction, and
never a backlog that grows while the clock sits idle.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from mailroute.core.retention import Prune, RetentionPolicy, RetentionStore

log = structlog.get_logger(__name__)


class RetentionPruner:
    def __init__(
        self,
        store: RetentionStore,
        policy: RetentionPolicy,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._policy = policy
        self._monotonic = monotonic

    @property
    def every_seconds(self) -> float:
        return self._policy.every_seconds

    def prune_once(self) -> dict[Prune, int]:
        """One tick: how many rows of each thing were deleted or purged."""
        ages = self._policy.ages()
        pruned = dict.fromkeys(ages, 0)
        deadline = self._monotonic() + self._policy.budget_seconds
        behind = list(ages)
        while behind:
            still_behind = []
            for what in behind:
                count = self._store.prune(what, older_than=ages[what], limit=self._policy.batch)
                pruned[what] += count
                if count >= self._policy.batch:
                    still_behind.append(what)
            behind = still_behind if self._monotonic() < deadline else []
            if still_behind and not behind:
                log.info("retention.behind", things=[str(w) for w in still_behind])
        done = {str(what): count for what, count in pruned.items() if count}
        if done:
            log.info("retention.pruned", **done)
        return pruned
