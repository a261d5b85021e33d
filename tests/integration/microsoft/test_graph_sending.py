"""Sending through the sandbox's Microsoft Graph (over HTTPS) with tokens from a real msal sign-in:
what arrives, large attachments by upload session, throttling honoured as retry_at, and the
refusals an admin must act on."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest

from mailroute.adapters.microsoft.errors import GraphTokenRejectedError
from mailroute.adapters.microsoft.graph import GraphSender
from mailroute.adapters.microsoft.oauth import MicrosoftOAuth
from mailroute.core.errors import (
    MicrosoftAuthBrokenError,
    ProviderBusyError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from mailroute_sandbox.client import SandboxClient
from tests.integration.microsoft.conftest import mime, sign_in

MiB = 1024 * 1024


def test_a_message_is_submitted_by_sendmail_and_arrives_with_its_message_id(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    signed = sign_in(sandbox, oauth)
    raw, message_id = mime(signed.address, attachments=(("invoice.pdf", b"%PDF-1.4 small"),))
    result = graph.send(signed.grant.access_token, raw)
    assert result.status == "submitted"
    assert result.path == "sendMail"
    assert result.message_id == message_id
    (sent,) = sandbox.ms_sent(signed.address)
    assert sent["message_id"] == message_id
    assert sent["subject"] == "Invoice 42"
    assert [a["filename"] for a in sent["attachments"]] == ["invoice.pdf"]


def test_a_20_mb_attachment_arrives_byte_identical_through_an_upload_session(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    signed = sign_in(sandbox, oauth)
    big, small = os.urandom(20 * MiB), b"%PDF-1.4 the cover letter"
    raw, message_id = mime(signed.address, attachments=(("big.pdf", big), ("cover.pdf", small)))
    result = graph.send(signed.grant.access_token, raw)
    assert (result.status, result.path, result.uploaded) == ("submitted", "draft", 1)
    assert result.message_id == message_id
    assert result.message_id_kept  # the draft's internetMessageId is the MIME's Message-ID
    (sent,) = sandbox.ms_sent(signed.address)
    assert sent["message_id"] == message_id
    attachments = {a["filename"]: a for a in sent["attachments"]}
    assert set(attachments) == {"big.pdf", "cover.pdf"}
    assert attachments["big.pdf"]["size"] == len(big)
    assert attachments["big.pdf"]["sha256"] == hashlib.sha256(big).hexdigest()
    assert attachments["cover.pdf"]["sha256"] == hashlib.sha256(small).hexdigest()


def test_throttling_with_retry_after_is_busy_until_then(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    signed = sign_in(sandbox, oauth)
    sandbox.ms_throttle(signed.address, count=1, status=429, retry_after=7)
    before = datetime.now(UTC)
    with pytest.raises(ProviderBusyError) as busy:
        graph.send(signed.grant.access_token, mime(signed.address)[0])
    assert busy.value.retry_at is not None
    assert before + timedelta(seconds=6) <= busy.value.retry_at
    assert busy.value.retry_at <= datetime.now(UTC) + timedelta(seconds=8)
    assert graph.send(signed.grant.access_token, mime(signed.address)[0]).status == "submitted"


def test_an_unavailable_graph_with_retry_after_is_transient_until_then(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    signed = sign_in(sandbox, oauth)
    sandbox.ms_throttle(signed.address, count=1, status=503, retry_after=30)
    with pytest.raises(ProviderUnavailableError) as unavailable:
        graph.send(signed.grant.access_token, mime(signed.address)[0])
    assert unavailable.value.retry_at is not None
    assert unavailable.value.retry_at > datetime.now(UTC) + timedelta(seconds=25)


def test_the_concurrency_limit_is_busy_with_its_own_code(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    signed = sign_in(sandbox, oauth)
    message = "Application is over its MailboxConcurrency limit."
    sandbox.ms_throttle(signed.address, count=1, status=429, retry_after=1, message=message)
    with pytest.raises(ProviderBusyError) as busy:
        graph.send(signed.grant.access_token, mime(signed.address)[0])
    assert busy.value.code == "microsoft_concurrency_limited"


def test_sending_as_another_address_is_refused_for_good(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    signed = sign_in(sandbox, oauth)
    with pytest.raises(ProviderRejectedError) as refused:
        graph.send(signed.grant.access_token, mime("someone@else.example")[0])
    assert refused.value.code == "microsoft_send_as_denied"
    assert sandbox.ms_sent(signed.address) == []


def test_an_alias_may_be_the_from_address(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    signed = sign_in(sandbox, oauth, aliases=["billing@contoso.example"])
    result = graph.send(signed.grant.access_token, mime("billing@contoso.example")[0])
    assert result.status == "submitted"


def test_a_mailbox_not_enabled_for_graph_is_refused_for_good(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    signed = sign_in(sandbox, oauth, mail_enabled=False)
    with pytest.raises(ProviderRejectedError) as refused:
        graph.send(signed.grant.access_token, mime(signed.address)[0])
    assert refused.value.code == "microsoft_mailbox_not_enabled"
    assert "Exchange Online" in refused.value.message


def test_a_message_over_the_mailbox_limit_is_refused_for_good(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    signed = sign_in(sandbox, oauth)
    sandbox.ms_set_limits(signed.address, max_message_bytes=1 * MiB)
    raw = mime(signed.address, attachments=(("big.pdf", os.urandom(2 * MiB)),))[0]
    with pytest.raises(ProviderRejectedError) as refused:
        graph.send(signed.grant.access_token, raw)
    assert refused.value.code == "microsoft_too_large"


def test_a_dead_access_token_is_rejected_distinctly_and_a_fresh_one_then_breaks(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    signed = sign_in(sandbox, oauth)
    sandbox.ms_invalidate(signed.address, "revoked")
    with pytest.raises(GraphTokenRejectedError):
        graph.send(signed.grant.access_token, mime(signed.address)[0])
    with pytest.raises(MicrosoftAuthBrokenError) as broken:
        oauth.access_token(signed.grant.cache, signed.grant.account_id, force_refresh=True)
    assert broken.value.reason == "revoked"


def test_a_large_message_needs_mail_readwrite_as_on_microsoft_and_says_so(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    sandbox.ms_settings(drafts_need_mail_readwrite=True)
    signed = sign_in(sandbox, oauth)
    raw = mime(signed.address, attachments=(("big.pdf", os.urandom(5 * MiB)),))[0]
    with pytest.raises(ProviderRejectedError) as refused:
        graph.send(signed.grant.access_token, raw)
    assert refused.value.code == "microsoft_too_large_for_mail_send"
    assert sandbox.ms_sent(signed.address) == []


def test_a_refused_access_token_is_replaced_once_by_a_forced_refresh_and_the_send_succeeds(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, graph: GraphSender
) -> None:
    signed = sign_in(sandbox, oauth)
    assert sandbox.ms_expire_access_tokens(signed.address) >= 1
    raw, message_id = mime(signed.address)
    with pytest.raises(GraphTokenRejectedError):
        graph.send(signed.grant.access_token, raw)
    fresh = oauth.access_token(signed.grant.cache, signed.grant.account_id, force_refresh=True)
    assert fresh.new_cache is not None  # the rotated refresh token, to be stored
    assert graph.send(fresh.access_token, raw).message_id == message_id
    assert [m["message_id"] for m in sandbox.ms_sent(signed.address)] == [message_id]
