"""Who signed in with Microsoft, and what the grant may hold: the scopes mailroute asks msal for,
the send permission and nothing that reads mail, the issuer, the From address; and the
Microsoft settings."""

from __future__ import annotations

import inspect
from pathlib import Path

import msal
import pytest

from mailroute.adapters.microsoft.errors import MicrosoftGrantRefusedError
from mailroute.adapters.microsoft.identity import (
    MAIL_SEND,
    MSAL_RESERVED_SCOPES,
    REQUESTED_SCOPES,
    IdentityRefusal,
    check_granted,
    expected_issuer,
    has_mail_send,
    identity_from_claims,
    mail_reading_scopes,
    unexpected_scopes,
)
from mailroute.adapters.microsoft.oauth import AccessToken, MicrosoftGrant
from mailroute.config.microsoft_settings import (
    MICROSOFT_SANDBOX_CLIENT_ID,
    MICROSOFT_SANDBOX_CLIENT_SECRET,
    MicrosoftSettings,
)

TID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OID = "00000000-0000-0000-66f3-3332eca7ea81"
SANDBOX = "https://127.0.0.1:8443"


def test_mailroute_asks_msal_for_email_and_mail_send_and_none_of_its_reserved_scopes() -> None:
    # msal refuses its reserved scopes as input and adds them to every request itself.
    reserved = inspect.signature(msal.ClientApplication._decorate_scope).parameters
    assert reserved["reserved_scope"].default == MSAL_RESERVED_SCOPES
    assert set(REQUESTED_SCOPES) == {"email", MAIL_SEND}
    assert not set(REQUESTED_SCOPES) & MSAL_RESERVED_SCOPES


@pytest.mark.parametrize(
    "granted",
    [
        ("openid", "email", "offline_access", "https://graph.microsoft.com/Mail.Send"),
        ("openid", "profile", "email", "offline_access", "Mail.Send", "User.Read"),
        ("https://graph.microsoft.com/mail.send",),
    ],
)
def test_a_grant_that_sends_and_reads_nothing_is_accepted(granted: tuple[str, ...]) -> None:
    check_granted(granted)
    assert has_mail_send(granted)
    assert not unexpected_scopes(granted)


def test_a_grant_without_mail_send_is_refused_saying_what_to_accept() -> None:
    with pytest.raises(MicrosoftGrantRefusedError) as refused:
        check_granted(("openid", "email", "offline_access"))
    assert refused.value.code == "scope_missing"
    assert "Mail.Send" in refused.value.message


@pytest.mark.parametrize(
    "reader",
    [
        "https://graph.microsoft.com/Mail.Read",
        "Mail.ReadWrite",
        "Mail.ReadBasic",
        "https://graph.microsoft.com/Mail.Read.Shared",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "EWS.AccessAsUser.All",
    ],
)
def test_a_grant_holding_a_scope_that_reads_mail_is_refused(reader: str) -> None:
    granted = ("openid", "email", MAIL_SEND, reader)
    assert mail_reading_scopes(granted) == (reader,)
    with pytest.raises(MicrosoftGrantRefusedError) as refused:
        check_granted(granted)
    assert refused.value.code == "scope_excess"
    assert reader in refused.value.message


def test_mail_send_shared_is_not_a_mail_reading_scope() -> None:
    assert mail_reading_scopes(("Mail.Send.Shared", "MailboxSettings.Read")) == ()


def test_the_issuer_is_the_discovery_template_with_the_tokens_tenant() -> None:
    template = "https://login.microsoftonline.com/{tenantid}/v2.0"
    assert expected_issuer(template, TID) == f"https://login.microsoftonline.com/{TID}/v2.0"
    fixed = f"https://login.microsoftonline.com/{TID}/v2.0"
    assert expected_issuer(fixed, "another") == fixed


def test_the_identity_is_the_object_id_in_its_tenant_and_the_email_claim() -> None:
    identity = identity_from_claims(
        {"oid": OID, "tid": TID, "email": "Ada@Contoso.COM", "preferred_username": "ada@x.com"}
    )
    assert identity.subject == f"{OID}.{TID}"
    assert identity.email == "Ada@contoso.com"
    assert not identity.personal


def test_preferred_username_is_the_address_when_there_is_no_email_claim() -> None:
    identity = identity_from_claims(
        {"oid": OID, "tid": TID, "preferred_username": "bo@fabrikam.com"}
    )
    assert identity.email == "bo@fabrikam.com"


def test_an_email_claim_that_is_no_plain_address_falls_back_to_preferred_username() -> None:
    identity = identity_from_claims(
        {"oid": OID, "tid": TID, "email": "Ada <ada@x.com>", "preferred_username": "ada@x.com"}
    )
    assert identity.email == "ada@x.com"


@pytest.mark.parametrize(
    "claims",
    [
        {"oid": OID, "tid": TID, "preferred_username": "+15551234567"},
        {"oid": OID, "tid": TID},
        {"tid": TID, "email": "ada@contoso.com"},
        {"oid": OID, "email": "ada@contoso.com"},
    ],
)
def test_an_id_token_without_a_usable_address_or_account_id_is_refused(
    claims: dict[str, str],
) -> None:
    with pytest.raises(IdentityRefusal):
        identity_from_claims(claims)


def test_no_token_or_cache_reaches_a_repr() -> None:
    identity = identity_from_claims({"oid": OID, "tid": TID, "email": "ada@contoso.com"})
    grant = MicrosoftGrant(identity, "AT-secret", None, (MAIL_SEND,), "CACHE-secret", "h.t")
    token = AccessToken("AT-secret", None, "CACHE-secret")
    for shown in (repr(grant), repr(token), str(grant)):
        assert "secret" not in shown


def test_without_credentials_microsoft_is_the_sandbox() -> None:
    settings = MicrosoftSettings.from_env({}, sandbox_microsoft_url=SANDBOX + "/")
    assert settings.uses_sandbox
    assert settings.client_id == MICROSOFT_SANDBOX_CLIENT_ID
    assert settings.client_secret == MICROSOFT_SANDBOX_CLIENT_SECRET
    assert settings.authority == SANDBOX + "/common"
    assert settings.graph_url == SANDBOX + "/graph/v1.0"
    assert settings.problems() == []
    assert MICROSOFT_SANDBOX_CLIENT_SECRET not in repr(settings)


def test_with_credentials_microsoft_is_microsoft() -> None:
    settings = MicrosoftSettings.from_env(
        {"MICROSOFT_CLIENT_ID": "app-id", "MICROSOFT_CLIENT_SECRET": "s3cr3t-value"},
        sandbox_microsoft_url=SANDBOX,
    )
    assert not settings.uses_sandbox
    assert settings.authority == "https://login.microsoftonline.com/common"
    assert settings.graph_url == "https://graph.microsoft.com/v1.0"
    assert settings.problems() == []
    assert "s3cr3t-value" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MICROSOFT_CLIENT_ID": "app-id"}, "MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET"),
        ({"MICROSOFT_CLIENT_SECRET": "x"}, "MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET"),
        ({"MICROSOFT_AUTHORITY": "http://login.microsoftonline.com/common"}, "MICROSOFT_AUTHORITY"),
        ({"MICROSOFT_AUTHORITY": "https://login.microsoftonline.com"}, "MICROSOFT_AUTHORITY"),
        ({"MICROSOFT_GRAPH_URL": "https://graph.microsoft.com"}, "MICROSOFT_GRAPH_URL"),
        ({"MICROSOFT_CA_FILE": "/nonexistent/ca.pem"}, "MICROSOFT_CA_FILE"),
    ],
)
def test_bad_microsoft_variables_are_named(env: dict[str, str], named: str) -> None:
    problems = MicrosoftSettings.from_env(env, sandbox_microsoft_url=SANDBOX).problems()
    assert any(problem.startswith(named) for problem in problems), problems


def test_a_ca_file_is_for_the_sandbox_only(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    sandbox = MicrosoftSettings.from_env(
        {"MICROSOFT_CA_FILE": str(ca)}, sandbox_microsoft_url=SANDBOX
    )
    assert sandbox.problems() == []
    real = MicrosoftSettings.from_env(
        {"MICROSOFT_CLIENT_ID": "a", "MICROSOFT_CLIENT_SECRET": "b", "MICROSOFT_CA_FILE": str(ca)},
        sandbox_microsoft_url=SANDBOX,
    )
    assert any(problem.startswith("MICROSOFT_CA_FILE") for problem in real.problems())
