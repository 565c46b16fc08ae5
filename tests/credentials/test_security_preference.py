"""The account security preference: defaults, API shapes, validation, logon helpers."""

from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_ram20150501 import models as ram_models  # type: ignore[import-untyped]

from ram_middleware import errors
from ram_middleware.credentials.preference import SecurityPreference, parse_network_masks


def test_defaults_in_the_nested_api_shape() -> None:
    assert SecurityPreference().to_api() == {
        "LoginProfilePreference": {
            "EnableSaveMFATicket": False,
            "AllowUserToChangePassword": True,
            "EnforceMFAForLogin": False,
            "LoginSessionDuration": 6,
            "LoginNetworkMasks": "",
            "MFAEnforcedUsers": "",
        },
        "AccessKeyPreference": {"AllowUserToManageAccessKeys": False},
        "MFAPreference": {"AllowUserToManageMFADevices": True},
        "PublicKeyPreference": {"AllowUserToManagePublicKeys": False},
    }


def test_flat_set_parameters_as_text() -> None:
    pref = SecurityPreference.from_api(
        {
            "Action": "SetSecurityPreference",
            "EnableSaveMFATicket": "true",
            "AllowUserToChangePassword": "False",
            "AllowUserToManageAccessKeys": "true",
            "AllowUserToManageMFADevices": "false",
            "AllowUserToManagePublicKeys": "true",
            "LoginSessionDuration": "12",
            "LoginNetworkMasks": "10.0.0.1/8; 203.0.113.0/24;;2001:db8::/32",
            "EnforceMFAForLogin": "false",
            "MFAEnforcedUsers": "carol;dave;carol",
        }
    )
    assert pref == SecurityPreference(
        enable_save_mfa_ticket=True,
        allow_user_to_change_password=False,
        allow_user_to_manage_access_keys=True,
        allow_user_to_manage_mfa_devices=False,
        allow_user_to_manage_public_keys=True,
        login_session_duration=12,
        login_network_masks=("10.0.0.0/8", "203.0.113.0/24", "2001:db8::/32"),
        mfa_enforced_users=("carol", "dave"),
    )
    assert pref.login_session_seconds == 12 * 3600


def test_nested_round_trip_and_base() -> None:
    pref = SecurityPreference(login_network_masks=("192.0.2.0/24",), enforce_mfa_for_login=True)
    assert SecurityPreference.from_api(pref.to_api()) == pref
    changed = SecurityPreference.from_api({"LoginSessionDuration": 2}, base=pref)
    assert changed.login_network_masks == ("192.0.2.0/24",) and changed.login_session_duration == 2
    cleared = SecurityPreference.from_api({"LoginNetworkMasks": ""}, base=pref)
    assert cleared.login_network_masks == ()


def test_official_sdk_model_reads_to_api() -> None:
    pref = SecurityPreference(login_session_duration=3, login_network_masks=("10.0.0.0/8",))
    model = ram_models.GetSecurityPreferenceResponseBodySecurityPreference().from_map(pref.to_api())
    login = model.login_profile_preference
    assert login.login_session_duration == 3 and login.login_network_masks == "10.0.0.0/8"
    assert login.allow_user_to_change_password is True and login.enable_save_mfaticket is False
    assert model.access_key_preference.allow_user_to_manage_access_keys is False
    assert model.mfapreference.allow_user_to_manage_mfadevices is True
    assert model.public_key_preference.allow_user_to_manage_public_keys is False


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"LoginSessionDuration": 0}, "InvalidParameter.LoginSessionDuration"),
        ({"LoginSessionDuration": "25"}, "InvalidParameter.LoginSessionDuration"),
        ({"EnableSaveMFATicket": "maybe"}, "InvalidParameter.EnableSaveMFATicket"),
        ({"LoginNetworkMasks": "10.0.0.0/33"}, "InvalidParameter.LoginNetworkMasks"),
        ({"LoginNetworkMasks": "not-an-ip"}, "InvalidParameter.LoginNetworkMasks"),
        (
            {"LoginNetworkMasks": ";".join(f"10.0.{i}.0/24" for i in range(41))},
            "InvalidParameter.LoginNetworkMasks",
        ),
        ({"LoginNetworkMasks": "10.0.0.0/8;" * 47}, "InvalidParameter.LoginNetworkMasks"),  # > 512 chars
        ({"LoginNetworkMasks": ["10.0.0.0/8"]}, "InvalidParameter.LoginNetworkMasks"),
        ({"MFAEnforcedUsers": "bad name"}, "InvalidParameter.MFAEnforcedUsers"),
    ],
)
def test_validation(params: dict[str, Any], code: str) -> None:
    with pytest.raises(errors.InvalidParameter) as info:
        SecurityPreference.from_api(params)
    assert info.value.code == code


def test_forty_masks_are_allowed() -> None:
    masks = parse_network_masks(";".join(f"10.0.{i}.0/24" for i in range(40)))
    assert len(masks) == 40


def test_constructor_validates_too() -> None:
    with pytest.raises(errors.InvalidParameter):
        SecurityPreference(login_network_masks=("300.0.0.0/8",))
    with pytest.raises(errors.InvalidParameter):
        SecurityPreference(login_session_duration=48)


def test_login_network_check() -> None:
    anywhere = SecurityPreference()
    assert anywhere.login_allowed_from("198.51.100.7") and anywhere.login_allowed_from(None)
    office = SecurityPreference(login_network_masks=("203.0.113.0/24", "2001:db8::/32"))
    assert office.login_allowed_from("203.0.113.9")
    assert office.login_allowed_from("::ffff:203.0.113.9")  # IPv4-mapped IPv6
    assert office.login_allowed_from("2001:db8:1::1")
    assert not office.login_allowed_from("198.51.100.7")
    assert not office.login_allowed_from("2001:db9::1")
    assert not office.login_allowed_from(None)
    assert not office.login_allowed_from("garbage")


def test_mfa_enforcement() -> None:
    listed = SecurityPreference(mfa_enforced_users=("Carol", "dave"))
    assert listed.mfa_required_for("carol") and listed.mfa_required_for("DAVE")
    assert not listed.mfa_required_for("alice")
    everyone = SecurityPreference(enforce_mfa_for_login=True)
    assert everyone.mfa_required_for("alice")
    assert not SecurityPreference().mfa_required_for("alice")
