"""One module per queue. Importing this package declares every actor on the current broker."""

from mailroute.workers.actors import dispatch, gmail, microsoft, notify, risc, smtp, webhooks

__all__ = ["dispatch", "gmail", "microsoft", "notify", "risc", "smtp", "webhooks"]
