"""Sending as a company's Microsoft 365 mailbox: the `MailboxTransports` of the Microsoft route.

The access token comes from `AccessTokens` (the connection's stored msal cache, refreshed under
the refresh lease, the rotated refresh token stored with each new access token). Graph may
still refuse a token the store holds for live (revoked sessions, a token expired early): on a
401 the token is renewed once by the forced refresh (msal would otherwise hand back the token
it still trusts) and the message sent again; a second 401 breaks the connection.

Graph accepts a message with 202 and no id: the receipt says "submitted", with no provider id
(the Message-ID is the MIME's own). `GraphSender` binds `graph_path`, `size` and, for drafts,
`graph_uploads` to the log context of the message's `message.done` line.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from mailroute.adapters.access_tokens import AccessTokens
from mailroute.adapters.microsoft.errors import UNAUTHORIZED, GraphTokenRejectedError
from mailroute.adapters.microsoft.graph import GraphSender
from mailroute.adapters.microsoft.oauth import MicrosoftOAuth
from mailroute.core.errors import MicrosoftAuthBrokenError
from mailroute.core.ports import Envelope, ProviderReceipt

log = structlog.get_logger(__name__)

SUBMITTED = ProviderReceipt(message_id=None, thread_id=None, submitted_only=True)


class MicrosoftSender:
    """Sends finished RFC 5322 messages as connected Microsoft 365 mailboxes; one per process.

    `oauth` is the client the tokens' refresh functions use: closed with the sender."""

    def __init__(
        self, tokens: AccessTokens, graph: GraphSender, *, oauth: MicrosoftOAuth | None = None
    ) -> None:
        self._tokens = tokens
        self._graph = graph
        self._oauth = oauth

    def for_connection(self, connection_id: str, generation: int) -> MicrosoftTransport:
        return MicrosoftTransport(self, connection_id, generation)

    def send(self, connection_id: str, generation: int, message: bytes) -> ProviderReceipt:
        """Submit `message`; raises the errors of `core.errors` (MicrosoftAuthBrokenError when
        the connection must break)."""
        token = self._tokens.access_token(connection_id, generation)
        try:
            self._graph.send(token, message)
            return SUBMITTED
        except GraphTokenRejectedError:
            log.info("microsoft.token_refused", connection_id=connection_id)
        token = self._tokens.refreshed_after(connection_id, generation, token)
        structlog.contextvars.bind_contextvars(graph_token_renewed=True)
        try:
            self._graph.send(token, message)
        except GraphTokenRejectedError as exc:
            raise MicrosoftAuthBrokenError(
                "Microsoft Graph refused the authorization even after a fresh token",
                reason=UNAUTHORIZED,
            ) from exc
        return SUBMITTED

    def close(self) -> None:
        """Close Graph's and the identity platform's HTTP sessions (at shutdown)."""
        self._graph.close()
        if self._oauth is not None:
            self._oauth.close()


@dataclass(frozen=True)
class MicrosoftTransport:
    """A `MessageTransport` bound to one connection and generation."""

    sender: MicrosoftSender
    connection_id: str
    generation: int

    def send(self, message: bytes, envelope: Envelope) -> ProviderReceipt:
        return self.sender.send(self.connection_id, self.generation, message)
