"""What the Microsoft 365 connection's routes answer beyond the Email settings (documented in
`/openapi.json`, checked by FastAPI on every answer)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mailroute.web.email_models import EmailSettingsView


class MicrosoftRevocation(BaseModel):
    """Microsoft has no token revocation for these apps: mailroute deleted its tokens, and the
    consent stays in the Microsoft account until it is removed there."""

    address: str
    revoked_at_microsoft: Literal[False] = Field(
        description="Always false: Microsoft offers apps no way to revoke their authorization."
    )
    explanation: str = Field(description="What Revoke Access did and did not do, in words.")
    sign_out_url: str | None = Field(
        description="Microsoft's sign-out page: ends the browser's Microsoft session, revokes"
        " nothing. Null when Microsoft could not be asked for it just now."
    )
    remove_app_work_or_school: str = Field(
        description="Where a work or school account removes mailroute's permission."
    )
    remove_app_personal: str = Field(
        description="Where a personal account (outlook.com) removes mailroute's permission."
    )


class MicrosoftRevokeResult(EmailSettingsView):
    revocation: MicrosoftRevocation | None = Field(description="Null when nothing was connected.")
