"""What a company may be created with: its name goes into every email's From header (and the
admins' notice subject), its reply-to into Reply-To, its admins' addresses into To.

So the name is one line of text a person reads: the name rules of every text field (no CR/LF,
no line separator, no control or bidirectional control character), 1 to 200 characters, not
blank. The addresses follow the email request's address rules; an admin's is a bare address.
Refusals name the field and the rule, like an email request's.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from mailroute.events import InvalidEventError, field_problems
from mailroute.events.email_fields import NAME, Address

MAX_NAME_LENGTH = 200  # the companies table's CHECK


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("not_empty", "must not be blank")
    return value


def _bare(value: str) -> str:
    if "<" in value:
        raise PydanticCustomError("bare_address", "must be a bare address such as a@example.com")
    return value


CompanyName = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME_LENGTH), NAME, AfterValidator(_not_blank)
]
BareAddress = Annotated[Address, AfterValidator(_bare)]


class NewCompany(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: CompanyName
    reply_to: Address
    admin_emails: list[BareAddress] = Field(default_factory=list)


def parse_new_company(data: dict[str, Any]) -> NewCompany:
    """The company to create; `InvalidEventError` names every bad field and rule."""
    try:
        return NewCompany.model_validate(data)
    except ValidationError as exc:
        raise InvalidEventError(field_problems(exc)) from None
