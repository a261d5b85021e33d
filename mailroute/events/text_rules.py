"""What a text field may hold, one rule each, shared by every door (HTTP, `mailroute send`,
`publish`, a raw queue message, `mailroute company create`).

Every text is valid Unicode (no lone surrogates: PostgreSQL stores UTF-8 only) and holds no
control character (NUL above all: PostgreSQL cannot store it) but tab, and in bodies line feed
and carriage return. A header field (subject, addresses, file names, a company's name) is one
line: no CR or LF, and no Unicode line or paragraph separator, which a mail program would show as
a line break or a space. A name (a file name, a display name, a company's name) holds no
bidirectional control, which can make `invoice<U+202E>fdp.exe` look like `invoiceexe.pdf`.

Each check returns the problem as `(rule, message)`, or None; `text_problem` and
`header_problem` give the first problem of a value in the order a producer would fix them.
"""

from __future__ import annotations

import re

Problem = tuple[str, str]

_SURROGATE = re.compile("[\ud800-\udfff]")
_CRLF = re.compile(r"[\r\n]")
_LINE_SEPARATOR = re.compile("[\u0085\u2028\u2029]")
# C0 but tab, LF and CR; DEL; C1 (in a header, U+0085 is named by the line-separator rule).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Embeddings, overrides and isolates; the plain marks (LRM, RLM, ALM) stay allowed.
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")
# What MIME building turns into a space when an old stored name still holds it.
_NOT_ONE_LINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")

INVALID_UNICODE: Problem = ("invalid_unicode", "must be valid Unicode text (no lone surrogates)")
HEADER_INJECTION: Problem = ("header_injection", "must not contain CR or LF characters")
LINE_SEPARATOR: Problem = (
    "line_separator",
    "must not contain a Unicode line or paragraph separator (U+0085, U+2028, U+2029)",
)
CONTROL_CHARACTERS: Problem = ("control_characters", "must not contain control characters")
BIDI_CONTROL: Problem = (
    "bidi_control",
    "must not contain bidirectional control characters (U+202A to U+202E, U+2066 to U+2069)",
)


def text_problem(value: str) -> Problem | None:
    """A body: valid Unicode, no control character but tab, LF and CR."""
    if _SURROGATE.search(value):
        return INVALID_UNICODE
    if _CONTROL.search(value):
        return CONTROL_CHARACTERS
    return None


def header_problem(value: str) -> Problem | None:
    """A header field: valid Unicode, one line, no control character but tab."""
    if _SURROGATE.search(value):
        return INVALID_UNICODE
    if _CRLF.search(value):
        return HEADER_INJECTION
    if _LINE_SEPARATOR.search(value):
        return LINE_SEPARATOR
    if _CONTROL.search(value):
        return CONTROL_CHARACTERS
    return None


def name_problem(value: str) -> Problem | None:
    """A name shown to people (a file name, a display name, a company's name): a header field
    without bidirectional controls."""
    return header_problem(value) or (BIDI_CONTROL if _BIDI_CONTROL.search(value) else None)


def one_line(value: str) -> str:
    """`value` with anything that would break a header line made a space: for names stored
    before these rules (intake refuses them now), so building a message never fails on one."""
    return _NOT_ONE_LINE.sub(" ", _SURROGATE.sub("\ufffd", value))
