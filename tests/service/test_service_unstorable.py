"""Text no store can hold (a NUL) names nothing, on every backend: lookups answer "not found" and a Marker
hiding one is refused, where PostgreSQL would otherwise fail the query and the caller get a 503."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ram_middleware import errors
from ram_middleware.service import RamService
from ram_middleware.service.rules import decode_marker, encode_marker

NUL = "a\x00b"
POLICY = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"*"}]}'


def test_a_name_with_a_nul_names_nothing(svc: RamService, acct: str) -> None:
    svc.create_user(acct, "alice")
    svc.create_group(acct, "g")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("User", lambda: svc.get_user(acct, NUL)),
        ("User", lambda: svc.add_user_to_group(acct, "g", NUL)),
        ("User", lambda: svc.remove_user_from_group(acct, "g", NUL)),
        ("Group", lambda: svc.get_group(acct, NUL)),
        ("Role", lambda: svc.get_role(acct, NUL)),
        ("Policy", lambda: svc.attach_policy(acct, "group", "g", "Custom", NUL)),
        ("Policy", lambda: svc.get_policy(acct, NUL, "Custom")),
        ("AccessKey", lambda: svc.update_access_key(acct, NUL, "Inactive")),
        ("AccessKey", lambda: svc.delete_access_key(acct, NUL)),
        ("AccessKey", lambda: svc.get_access_key_last_used(acct, NUL)),
        ("VirtualMFADevice", lambda: svc.bind_mfa_device(acct, NUL, "alice", "123456", "654321")),
        ("Account", lambda: svc.find_account(NUL)),
    ]
    for kind, call in cases:
        with pytest.raises(errors.EntityNotExist) as missing:
            call()
        assert missing.value.code == f"EntityNotExist.{kind}"


def test_a_marker_hiding_a_nul_is_refused(svc: RamService, acct: str) -> None:
    svc.create_group(acct, "g")
    svc.create_policy(acct, "p", POLICY)
    marker = encode_marker("a\x00")
    listings: list[Callable[[], object]] = [
        lambda: svc.list_users(acct, marker=marker),
        lambda: svc.list_groups(acct, marker=marker),
        lambda: svc.list_roles(acct, marker=marker),
        lambda: svc.list_policies(acct, marker=marker),
        lambda: svc.list_users_for_group(acct, "g", marker=marker),
    ]
    for listing in listings:
        with pytest.raises(errors.InvalidParameter) as refused:
            listing()
        assert refused.value.code == "InvalidParameter.Marker"


_TEXT = st.text(st.characters(codec="utf-8"))  # no lone surrogates


@given(_TEXT.filter(lambda key: "\x00" not in key))
def test_markers_carry_back_every_storable_key(key: str) -> None:
    assert decode_marker(encode_marker(key)) == key


@given(_TEXT, _TEXT)
def test_a_marker_whose_key_holds_a_nul_is_refused(before: str, after: str) -> None:
    with pytest.raises(errors.InvalidParameter):
        decode_marker(encode_marker(f"{before}\x00{after}"))
