"""Hypothesis strategies for email requests as producers send them: a valid request with up to
three hostile changes. A change sets a field to odd Unicode (controls, NUL, lone surrogates, line
and paragraph separators, bidirectional controls), a wrong JSON type, deep nesting, an empty or
over-long list, an id in another UUID form, a file Gmail refuses; or takes a field away; or adds
a key of the producer's own. So a property is checked on good, sloppy and hostile input at once.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from hypothesis import strategies as st

ODD_CHARACTERS = (
    "\x00\x01\x07\x1b\x7f\x85\x9b\t\r\n"  # controls, NEL, line breaks
    "\u2028\u2029\u202a\u202e\u2066\u2069\u200f\ufeff"  # separators, bidi, marks
    "\ud800\udfff"  # lone surrogates
    '=?_"<>,;:@\\'  # what headers and addresses give meaning to
)
GOOD_ADDRESSES = ["Jane Doe <jane@example.com>", "Zoë Müller <zoe@example.com>", "a@b.example"]
MISSING = object()

any_text = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(ODD_CHARACTERS)), min_size=1, max_size=60
)
readable_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=200
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), any_text
)
wrong_types = st.one_of(
    json_scalars,
    st.lists(json_scalars, max_size=3),
    st.dictionaries(any_text, json_scalars, max_size=3),
)


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


too_deep = st.integers(min_value=30, max_value=60).map(nested)
base64_of = st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())
WINDOWS_EXE = b"MZ" + b"\x00" * 0x3A + (0x40).to_bytes(4, "little") + b"PE\x00\x00"

good_attachment = st.fixed_dictionaries(
    {
        "filename": st.one_of(st.sampled_from(["invoice.pdf", "Zoë été.txt"]), readable_text),
        "content_type": st.sampled_from(["application/pdf", "text/plain"]),
        "content_base64": base64_of,
    }
)
odd_attachment = st.fixed_dictionaries(
    {
        "filename": st.one_of(
            st.sampled_from(
                ["setup.exe", "tool.js.gz", "run.BAT.", "", "../a.pdf", "a\u202ef.pdf"]
            ),
            any_text,
            wrong_types,
        ),
        "content_type": st.one_of(
            st.sampled_from(["application/x-msdownload", "pdf", "application/pdf\n", ""]),
            wrong_types,
        ),
        "content_base64": st.one_of(
            base64_of,
            st.sampled_from(["%%%", "JVBERi0", base64.b64encode(WINDOWS_EXE).decode()]),
            wrong_types,
        ),
    }
)
odd_address = st.one_of(
    st.emails(),
    st.builds(lambda name, addr: f"{name} <{addr}>", any_text, st.emails()),
    st.sampled_from(["nobody", "", "a@b.example, c@d.example", "x" * 1000 + " <a@b.example>"]),
    wrong_types,
)


def company_ids(company_id: str) -> st.SearchStrategy[Any]:
    """The company's id in another form than the canonical one, another company's, or junk."""
    return st.one_of(
        st.sampled_from(
            [
                f"urn:uuid:{company_id}",
                company_id.upper(),
                "{" + company_id + "}",
                company_id.replace("-", ""),
                str(uuid.uuid4()),
            ]
        ),
        wrong_types,
    )


def _good_fields(company_id: str) -> st.SearchStrategy[dict[str, Any]]:
    addresses = st.lists(st.one_of(st.emails(), st.sampled_from(GOOD_ADDRESSES)), max_size=2)
    return st.fixed_dictionaries(
        {
            "to": st.lists(st.sampled_from(GOOD_ADDRESSES), min_size=1, max_size=2),
            "subject": readable_text,
            "text": readable_text,
        },
        optional={
            "event_id": st.uuids().map(str),
            "company_id": st.just(company_id),
            "kind": st.sampled_from(["invoice", "estimate", "other"]),
            "sender": st.sampled_from(["auto", "default", "gmail"]),
            "cc": addresses,
            "bcc": addresses,
            "reply_to": st.sampled_from(GOOD_ADDRESSES),
            "html": st.sampled_from(["<p>Hello</p>", "<p>Zoë</p>"]),
            "attachments": st.lists(good_attachment, max_size=2),
            "correlation_id": st.sampled_from(["order-7", "a.b:c_d-e"]),
        },
    )


def _changes(company_id: str) -> st.SearchStrategy[tuple[str, Any]]:
    """One hostile change: a field set to an odd or wrong value, taken away, or a key added."""
    recipients = st.one_of(
        st.lists(odd_address, min_size=1, max_size=2),
        st.just([]),
        st.just(["r@example.com"] * 101),
    )
    odd: dict[str, st.SearchStrategy[Any]] = {
        "to": recipients,
        "cc": recipients,
        "subject": st.one_of(any_text, st.sampled_from([" ", "", "x" * 999])),
        "text": st.one_of(any_text, st.sampled_from(["", "Hello\r\n\tJane"])),
        "html": st.one_of(any_text, st.sampled_from(["<p>\x00</p>", ""])),
        "event_id": st.one_of(any_text, st.just("e" * 201)),
        "company_id": company_ids(company_id),
        "kind": st.sampled_from(["spam", ""]),
        "sender": st.sampled_from(["smtp", ""]),
        "reply_to": odd_address,
        "attachments": st.one_of(
            st.lists(st.one_of(odd_attachment, wrong_types), min_size=1, max_size=2),
            st.just([{"filename": "a.pdf"}] * 101),
        ),
        "correlation_id": st.sampled_from(["a" * 101, "x\n", ""]),
        "schema_version": st.sampled_from([2, 0, "1", True]),
    }
    field_changes = st.sampled_from(sorted(odd)).flatmap(
        lambda key: st.tuples(st.just(key), st.one_of(odd[key], wrong_types, st.just(MISSING)))
    )
    added_keys = st.tuples(st.sampled_from(["extra", "nested"]), st.one_of(wrong_types, too_deep))
    return st.one_of(*[field_changes] * 6, added_keys)


def email_requests(company_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """A valid request with up to three hostile changes."""
    changes = st.lists(_changes(company_id), max_size=3)
    return st.tuples(_good_fields(company_id), changes).map(_changed)


def _changed(drawn: tuple[dict[str, Any], list[tuple[str, Any]]]) -> dict[str, Any]:
    body, changes = drawn
    for key, value in changes:
        if value is MISSING:
            body.pop(key, None)
        else:
            body[key] = value
    return body
