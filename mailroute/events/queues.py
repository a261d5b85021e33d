"""The queues and pinned actor names: part of the wire contract between producers and workers.

A rename of a Python function never changes these, so queued messages are never orphaned.
"""

from __future__ import annotations

from typing import Final

DISPATCH: Final = "dispatch"
GMAIL: Final = "gmail"
MICROSOFT: Final = "microsoft"
SMTP: Final = "smtp"
NOTIFY: Final = "notify"
WEBHOOKS: Final = "webhooks"
RISC: Final = "risc"
ALL_QUEUES: Final = (DISPATCH, GMAIL, MICROSOFT, SMTP, NOTIFY, WEBHOOKS, RISC)

DISPATCH_EMAIL: Final = "mailroute.dispatch_email"  # a producer's EmailRequested
# Many producers' EmailRequested events in one message (`publish_many`): a list of them.
DISPATCH_EMAILS: Final = "mailroute.dispatch_emails"
ROUTE_EMAIL: Final = "mailroute.route_email"  # an email stored at intake, by id
SEND_VIA_GMAIL: Final = "mailroute.send_via_gmail"
SEND_VIA_MICROSOFT: Final = "mailroute.send_via_microsoft"
SEND_VIA_SMTP: Final = "mailroute.send_via_smtp"
# Many emails of one route in one message: a list of email ids.
SEND_MANY_VIA_SMTP: Final = "mailroute.send_many_via_smtp"
SEND_MANY_VIA_GMAIL: Final = "mailroute.send_many_via_gmail"
SEND_MANY_VIA_MICROSOFT: Final = "mailroute.send_many_via_microsoft"
NOTIFY_ADMINS_ONCE: Final = "mailroute.notify_admins_once"
# Outcome webhooks: one delivery by id; the one notice of an endpoint disabled.
DELIVER_WEBHOOK: Final = "mailroute.deliver_webhook"
NOTIFY_WEBHOOK_DISABLED: Final = "mailroute.notify_webhook_disabled"
# Google's Cross-Account Protection: one received Security Event Token, by its stored id.
HANDLE_SECURITY_EVENT: Final = "mailroute.handle_security_event"

# Route of an email -> (queue, actor) that sends it.
SENDERS: Final = {
    "gmail": (GMAIL, SEND_VIA_GMAIL),
    "microsoft": (MICROSOFT, SEND_VIA_MICROSOFT),
    "default": (SMTP, SEND_VIA_SMTP),
}

# Route of an email -> (queue, actor) that sends many of them a message.
BATCH_SENDERS: Final = {
    "gmail": (GMAIL, SEND_MANY_VIA_GMAIL),
    "microsoft": (MICROSOFT, SEND_MANY_VIA_MICROSOFT),
    "default": (SMTP, SEND_MANY_VIA_SMTP),
}

# The most emails one batch message carries (DISPATCH_EMAILS, the SEND_MANY_VIA_* actors).
BATCH_LIMIT: Final = 100
