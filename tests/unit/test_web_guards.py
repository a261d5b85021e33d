"""The web guards' rules, without a server: which hosts are honoured, each route's body limit,
and the policy the pages are served under."""

from __future__ import annotations

import base64
import os
import secrets

import pytest

from mailroute.config.settings import Settings, SettingsError
from mailroute.web.allowed_hosts import host_name
from mailroute.web.body_limit import body_limit, email_request_limit
from mailroute.web.security_headers import content_security_policy


def test_the_honoured_hosts_default_to_the_public_base_urls_host() -> None:
    default = Settings.from_env({"PUBLIC_BASE_URL": "https://Mail.Example.com:8443/app"})
    listed = Settings.from_env({"ALLOWED_HOSTS": "mail.example.com, internal.lan"})

    assert default.honoured_hosts == ("mail.example.com",)
    assert listed.honoured_hosts == ("mail.example.com", "internal.lan")


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("mail.example.com", "mail.example.com"),
        ("MAIL.example.com:8000", "mail.example.com"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("mail.example.com:80@evil.example", ""),
        ("mail.example.com:http", ""),
        ("mail.example.com evil.example", ""),
    ],
)
def test_a_host_header_is_compared_by_its_name_without_the_port(header: str, name: str) -> None:
    assert host_name(header) == name


def test_each_route_has_its_body_limit() -> None:
    settings = Settings.from_env({"MAX_EMAIL_BYTES": "3000000", "MAX_REQUEST_BYTES": "2048"})

    assert body_limit(settings, "POST", "/v1/emails") == email_request_limit(3_000_000)
    assert email_request_limit(3_000_000) == 5_000_000
    assert body_limit(settings, "POST", "/settings/email/send") == 1024 * 1024
    assert body_limit(settings, "POST", "/v1/gmail/authorize") == 2048
    assert body_limit(settings, "GET", "/v1/emails") == 2048


def test_limits_that_make_no_sense_stop_the_process() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"MAX_REQUEST_BYTES": "10", "GMAIL_CHECKS_PER_MINUTE": "0"})

    assert "MAX_REQUEST_BYTES" in str(refused.value)
    assert "GMAIL_CHECKS_PER_MINUTE" in str(refused.value)


def test_the_pages_policy_allows_no_inline_script_and_posts_only_here_and_to_google() -> None:
    sandbox = content_security_policy(Settings.from_env({}))
    google = content_security_policy(
        Settings.from_env(
            {
                "GOOGLE_CLIENT_ID": "id",
                "GOOGLE_CLIENT_SECRET": "secret",
                "SECRET_KEY": secrets.token_urlsafe(48),
                "TOKEN_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            }
        )
    )

    assert "script-src 'self';" in sandbox
    assert "unsafe-inline" not in sandbox
    assert "frame-ancestors 'none'" in sandbox
    assert "form-action 'self' http://127.0.0.1:8090;" in sandbox
    assert "form-action 'self' https://accounts.google.com;" in google
