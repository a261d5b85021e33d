"""No secret reaches a log line at any level: the OAuth libraries are pinned above the levels
at which they print tokens, and every rendered line is scrubbed of token-shaped values,
secret-named values and the process's configured secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from mailroute.config.logging import LIBRARY_FLOORS, REDACTED, configure_logging, scrub

ACCESS = "ya29.a0AfB_byC-Example_Access_Token.1234"
REFRESH = "1//0gExampleRefreshToken-abc_123"
CODE = "4/0AeanS0ExampleAuthorizationCode_xyz"
ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"
VERIFIER = "kq3Vn-8_0Z.example.pkce.verifier~with~all~chars"


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (
            f"Request body was grant_type=authorization_code&code_verifier={VERIFIER}&code={CODE}",
            "grant_type=authorization_code&code_verifier=[redacted]&code=[redacted]",
        ),
        (
            f"data {{'code_verifier': '{VERIFIER}', 'code': '{CODE}'}}",
            "'code_verifier': '[redacted]'",
        ),
        (
            "headers {'Authorization': 'Basic bWFpbHJvdXRlOnNlY3JldA=='}",
            "'Authorization': '[redacted]'",
        ),
        (
            f'{{"event": "content {{\\n  \\"access_token\\": \\"{ACCESS}\\"}}"}}',
            '\\"access_token\\": \\"[redacted]\\"',
        ),
        (
            f"GET /oauth/google/callback?state=abc.def&code={CODE}&scope=openid",
            "?state=[redacted]&code=[redacted]&scope=openid",
        ),
        (f"Authorization: Bearer {ACCESS}", "Authorization: Bearer [redacted]"),
        (f"token={REFRESH}", "token=[redacted]"),
        (f"id token {ID_TOKEN} seen", "id token [redacted] seen"),
        ("key mr_abcdefghijklmnopqrstuvwx used", "key [redacted] used"),
        (
            "signing with whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw3vQf+6kH/9Q= now",
            "signing with [redacted] now",
        ),
    ],
)
def test_secret_shaped_and_secret_named_values_are_blanked(line: str, kept: str) -> None:
    scrubbed = scrub(line)

    assert kept in scrubbed
    for secret in (ACCESS, REFRESH, CODE, ID_TOKEN, VERIFIER, "bWFpbHJvdXRlOnNlY3JldA=="):
        assert secret not in scrubbed


@pytest.mark.parametrize(
    "line",
    [
        "connection.verify_failed code=google_unavailable state=active",
        '{"code": "gmail_not_connected", "state": "not_connected", "token_type": "Bearer"}',
        "email.sent route=gmail email_id=9c4f3f0e-0d1b-4a41-9b8e-5b1f7a0a3f11",
    ],
)
def test_our_own_codes_and_states_are_left_alone(line: str) -> None:
    assert scrub(line) == line


def test_the_configured_secrets_are_blanked_wherever_they_appear() -> None:
    assert scrub("dsn postgresql://u:db-pass-123@h/x", ["db-pass-123"]) == (
        f"dsn postgresql://u:{REDACTED}@h/x"
    )


@pytest.fixture
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in LIBRARY_FLOORS}
    config = structlog.get_config()
    yield
    root.handlers[:], root.level = handlers, level
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)
    structlog.configure(**config)
    logging.captureWarnings(False)


def test_at_debug_the_oauth_libraries_stay_above_the_levels_that_print_tokens(
    logging_restored: None,
) -> None:
    configure_logging("DEBUG", "json")

    assert logging.getLogger("requests_oauthlib.oauth2_session").getEffectiveLevel() == (
        logging.WARNING
    )
    assert logging.getLogger("oauthlib").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("google.auth.transport.requests").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("urllib3.connectionpool").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("googleapiclient.discovery").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("mailroute").getEffectiveLevel() == logging.DEBUG


def test_a_quieter_log_level_is_kept_for_the_libraries_too(logging_restored: None) -> None:
    configure_logging("ERROR", "json")

    assert logging.getLogger("requests_oauthlib").getEffectiveLevel() == logging.ERROR


def test_every_rendered_line_is_scrubbed_ours_the_libraries_and_tracebacks(
    logging_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", "json", secrets=["configured-secret-key-0123456789"])
    log = structlog.get_logger("mailroute.test")

    log.info("oauth.answer", detail=f"got {ACCESS}", note="configured-secret-key-0123456789")
    logging.getLogger("requests_oauthlib.oauth2_session").warning("Obtained %s", REFRESH)
    try:
        raise ValueError(f"bad code {CODE}")
    except ValueError:
        log.exception("oauth.failed")
        logging.getLogger("some.library").exception("failed with %s", ID_TOKEN)

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    text = json.dumps(lines)
    assert len(lines) == 4
    for secret in (ACCESS, REFRESH, CODE, ID_TOKEN, "configured-secret-key-0123456789"):
        assert secret not in text
    assert lines[0]["detail"] == f"got {REDACTED}"
    assert "ValueError: bad code [redacted]" in lines[2]["exception"]
