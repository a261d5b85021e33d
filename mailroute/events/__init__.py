"""Wire contracts: versioned JSON events. Imports nothing of ours but config."""

from mailroute.events.base import (
    CURRENT_SCHEMA_VERSION,
    FieldProblem,
    InvalidEventError,
    UnreadableEventError,
    field_problems,
)
from mailroute.events.email import (
    AuthBroken,
    EmailFailed,
    EmailRequested,
    EmailSent,
    Event,
    GmailConnectionChanged,
    read_event,
)
from mailroute.events.email_fields import Attachment

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "Attachment",
    "AuthBroken",
    "EmailFailed",
    "EmailRequested",
    "EmailSent",
    "Event",
    "FieldProblem",
    "GmailConnectionChanged",
    "InvalidEventError",
    "UnreadableEventError",
    "field_problems",
    "read_event",
]
