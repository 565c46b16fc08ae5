"""The console's forms for people using a screen reader or the keyboard, checked on the HTML both apps send.

After a refused form the page opens with the focus on the field to fill in again, and that field names the
error (``aria-describedby``) and says it needs correcting (``aria-invalid``): a screen reader reads the
error where the person is, not only as an alert they may have missed.
"""

from __future__ import annotations

from html.parser import HTMLParser

from ram_middleware.credentials.preference import SecurityPreference

from .client import Browser, Site

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


def _bob(site: Site) -> Browser:
    browser = site.client()
    assert browser.logon("bob").status_code == 303
    return browser


def test_a_refused_password_change_focuses_its_first_field(site: Site) -> None:
    data = {
        "old_password": "Wrong-passw0rd!",
        "new_password": "An0ther-Secret!",
        "confirm": "An0ther-Secret!",
    }
    refused = _bob(site).submit("/console/password", data)
    assert refused.status_code == 400
    assert_focus_on_field_naming_the_error(refused.text, "old_password")


def test_a_refused_access_key_creation_focuses_the_password(site: Site) -> None:
    world = site.world
    preference = SecurityPreference(allow_user_to_manage_access_keys=True)
    world.ram.service.set_security_preference(world.account_id, preference)
    browser = _bob(site)
    assert "autofocus" not in browser.get("/console/access-keys").text  # nothing to fix yet
    refused = browser.submit("/console/access-keys", {"action": "create", "password": "Wrong-passw0rd!"})
    assert refused.status_code == 401
    assert_focus_on_field_naming_the_error(refused.text, "password")


def test_a_refused_mfa_device_removal_focuses_the_code(site: Site) -> None:
    world = site.world
    browser = site.client()
    assert browser.logon("alice").status_code == 303
    assert browser.logon_mfa(world.code("alice")).status_code == 303
    assert "autofocus" not in browser.get("/console/mfa-device").text  # removing is not the page's purpose
    wrong = "000000" if world.code("alice") != "000000" else "111111"
    refused = browser.submit("/console/mfa-device", {"action": "unbind", "code": wrong})
    assert refused.status_code >= 400
    assert_focus_on_field_naming_the_error(refused.text, "code")
