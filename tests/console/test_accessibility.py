"""The console's forms for people using a screen reader or the keyboard, checked on the HTML both apps send.

After a refused form the page opens with the focus on the field to fill in again, and that field names the
error (``aria-describedby``) and says it needs correcting (``aria-invalid``): a screen reader reads the
error where the person is, not only as an alert they may have missed.
"""

from __future__ import annotations

from html.parser import HTMLParser

from .client import Site

Attributes = dict[str, str | None]


class _Fields(HTMLParser):
    """The attributes of a page's visible form fields, by id."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, Attributes] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") != "hidden":
            self.fields[attributes.get("id") or ""] = attributes


def fields(page: str) -> dict[str, Attributes]:
    """The visible form fields of ``page`` by id."""
    parser = _Fields()
    parser.feed(page)
    return parser.fields


def focused(page: str) -> str:
    """The id of the one field the page focuses when it opens."""
    autofocus = [name for name, attributes in fields(page).items() if "autofocus" in attributes]
    assert len(autofocus) == 1, autofocus
    return autofocus[0]


def assert_focus_on_field_naming_the_error(page: str, expected: str) -> None:
    assert 'role="alert" id="error"' in page
    assert focused(page) == expected
    field = fields(page)[expected]
    assert "error" in (field.get("aria-describedby") or "").split()
    assert field.get("aria-invalid") == "true"


def test_a_refused_logon_focuses_the_user_name_which_names_the_error(site: Site) -> None:
    """The account stays filled in; the user name is not given back (a refusal must look the same for
    every user name, test_logon.py), so the focus opens there, and the person hears why."""
    refused = site.client().logon("alice", "Wrong-passw0rd!")
    assert refused.status_code == 401
    assert "value" not in fields(refused.text)["user_name"]
    assert_focus_on_field_naming_the_error(refused.text, "user_name")


def test_a_refused_logon_without_an_account_focuses_the_account(site: Site) -> None:
    refused = site.client().logon("alice", account="")
    assert refused.status_code >= 400
    assert_focus_on_field_naming_the_error(refused.text, "account")
