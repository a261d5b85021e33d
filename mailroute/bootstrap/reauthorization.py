"""Re-authorization links, for the web app: the links store the provider callbacks hold a
link's sign-in to, and the use case its confirm page starts sign-ins with."""

from __future__ import annotations

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.oauth_states import PostgresOAuthStates
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.reauthorization_links import PostgresReauthorizationLinks
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute.adapters.microsoft.oauth import MicrosoftOAuth
from mailroute.config.settings import Settings
from mailroute.services.connections import GmailConnections
from mailroute.services.microsoft_connections import MicrosoftConnections
from mailroute.services.reauthorization import ProviderSignIn, Reauthorization
from mailroute.services.signed_oauth_state import MICROSOFT_STATE_SALT, StateSigner


def reauthorization_links(pool: Pool) -> PostgresReauthorizationLinks:
    """What `GmailConnections` and `MicrosoftConnections` are given as `links=`."""
    return PostgresReauthorizationLinks(pool)


def reauthorization(
    settings: Settings,
    pool: Pool,
    *,
    gmail: GmailConnections,
    microsoft: MicrosoftConnections | None,
    microsoft_oauth: MicrosoftOAuth | None,
) -> Reauthorization:
    """Sign-ins started from a link use the same signers and pending authorizations as each
    provider's callback reads (Microsoft's only when this server has its app registration).
    A provider whose callback was not given the links starts none: its callback could not
    hold the sign-in to the link's account."""
    states = PostgresOAuthStates(pool, TokenCipher(settings.token_encryption_keys))
    sign_ins: dict[str, ProviderSignIn] = {}
    if gmail.checks_link_sign_ins:
        google = GoogleOAuth(settings).authorization_url
        sign_ins["gmail"] = ProviderSignIn(StateSigner(settings.secret_key), states, google)
    if microsoft is not None and microsoft.checks_link_sign_ins and microsoft_oauth is not None:
        signer = StateSigner(settings.secret_key, salt=MICROSOFT_STATE_SALT)
        sign_ins["microsoft"] = ProviderSignIn(signer, states, microsoft_oauth.authorization_url)
    return Reauthorization(
        links=reauthorization_links(pool), sign_ins=sign_ins, secret_key=settings.secret_key
    )
