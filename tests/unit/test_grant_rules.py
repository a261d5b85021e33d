"""What a grant must hold before it becomes a connection: no scope beyond those asked for, and
an ID-token email that is one plain address (it becomes the From of every email)."""

from __future__ import annotations

import pytest

from mailroute.core.oauth import GMAIL_SEND, SCOPES, USERINFO_EMAIL, excess_scopes, sender_address

READONLY = "https://www.googleapis.com/auth/gmail.readonly"


def test_the_scopes_asked_for_and_googles_spelling_of_them_are_not_excess() -> None:
    assert excess_scopes(SCOPES) == ()
    assert excess_scopes(("openid", USERINFO_EMAIL, GMAIL_SEND)) == ()
    assert excess_scopes(("openid", USERINFO_EMAIL)) == ()


@pytest.mark.parametrize(
    "extra",
    [READONLY, "https://mail.google.com/", "profile", "https://www.googleapis.com/auth/drive"],
)
def test_any_other_granted_scope_is_excess(extra: str) -> None:
    assert excess_scopes(("openid", USERINFO_EMAIL, GMAIL_SEND, extra)) == (extra,)


@pytest.mark.parametrize(
    ("claimed", "address"),
    [
        ("owner@acme.example", "owner@acme.example"),
        ("Owner.Name@ACME.Example", "Owner.Name@acme.example"),
        ("billing+x@acme-sandbox.test", "billing+x@acme-sandbox.test"),
        ("a@bücher.example", "a@xn--bcher-kva.example"),
    ],
)
def test_a_plain_address_is_sent_from_with_its_domain_normalised(
    claimed: str, address: str
) -> None:
    assert sender_address(claimed) == address


@pytest.mark.parametrize(
    "claimed",
    [
        "",
        "owner",
        "owner@",
        "@acme.example",
        "owner@@acme.example",
        "Owner <owner@acme.example>",
        "owner@acme.example, other@acme.example",
        "owner@acme.example\r\nBcc: everyone@example.com",
        "owner@acme.example\n",
        " owner@acme.example",
        "own er@acme.example",
        '"owner"@acme.example',
        "owner\x00@acme.example",
        "ówner@acme.example",
        "owner@localhost",
        "owner@acme..example",
    ],
)
def test_anything_but_one_plain_address_is_refused(claimed: str) -> None:
    assert sender_address(claimed) is None
