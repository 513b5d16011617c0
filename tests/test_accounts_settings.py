"""The settings of separation of duties and sign-in lockout are parsed strictly: a bad value stops start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_settings_env import _custody


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"CUSTODY_APPROVER_COOLING_OFF_HOURS": "0"}, "CUSTODY_APPROVER_COOLING_OFF_HOURS=0 is out of range"),
        ({"CUSTODY_APPROVER_COOLING_OFF_HOURS": "3d"}, "CUSTODY_APPROVER_COOLING_OFF_HOURS='3d' is not a whole number"),
        ({"CUSTODY_INVITATION_HOURS": "9999"}, "CUSTODY_INVITATION_HOURS=9999 is out of range"),
        # The per-address limit must stay above the limit per user name, or it would lock colleagues out first.
        ({"CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT": "5"}, "CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT=5 is out of range"),
        (
            {"CUSTODY_LOGIN_FAILURE_LIMIT": "20", "CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT": "20"},
            "CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT=20 is out of range; it must be between 21 and 10000",
        ),
    ],
)
def test_bad_values_stop_startup(tmp_path: Path, variables: dict[str, str], message: str) -> None:
    result = _custody(["check"], variables, tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_address_limit_follows_the_user_name_limit(tmp_path: Path) -> None:
    code = "from django.conf import settings; print(settings.CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT)"
    result = _custody(["shell", "-c", code], {"CUSTODY_LOGIN_FAILURE_LIMIT": "8"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "80"
