"""What the browser tests do on the settings page: sign in with a login link, read the From
choices, and listen for Content-Security-Policy violations (the page and its popups)."""

from __future__ import annotations

import subprocess

from playwright.sync_api import Page, expect

from tests.conftest import TestCompany
from tests.stack import MAILROUTE


def login_link(company: TestCompany, env: dict[str, str]) -> str:
    """A one-time login link of the company's admin, for the web app `env` runs."""
    return subprocess.run(
        [MAILROUTE, "login-link", "--company", company.id],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def open_login_link(page: Page, link: str) -> None:
    """Open a login link and confirm on its page (opening it alone spends nothing)."""
    page.goto(link)
    expect(page.locator("#login-confirm")).to_be_visible()
    page.click("#btn-login-confirm")


def refusals_of_the_policy(page: Page) -> list[str]:
    """Every Content-Security-Policy violation the page (and its popups) report."""
    refused: list[str] = []

    def watch(target: Page) -> None:
        target.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )

    watch(page)
    page.on("popup", watch)
    return refused


def from_options(page: Page) -> list[tuple[str, bool]]:
    """The send form's From choices: (label, disabled)."""
    options = page.locator("#from-select option")
    return [
        (options.nth(i).inner_text(), options.nth(i).is_disabled()) for i in range(options.count())
    ]


def account_radio(email: str) -> str:
    """The consent page's radio button of `email` (Google's and Microsoft's alike)."""
    return "#account-" + "".join(c if c.isalnum() else "-" for c in email.lower())
