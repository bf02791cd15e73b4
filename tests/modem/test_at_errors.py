"""+CME / +CMS errors as typed exceptions with their 27.007 §9.2 / 27.005 §3.2.5 meanings."""

from __future__ import annotations

import pytest

from modem.at import errors
from modem.at.codes import CME_ERRORS, CMS_ERRORS, cme_code_from_text, cme_meaning, cms_meaning


@pytest.mark.parametrize(
    ("value", "cls", "code", "meaning"),
    [
        ("14", errors.SimBusy, 14, "SIM busy"),
        ("SIM busy", errors.SimBusy, 14, "SIM busy"),
        ("10", errors.SimNotInserted, 10, "SIM not inserted"),
        ("SIM PIN required", errors.SimPinRequired, 11, "SIM PIN required"),
        ("515", errors.PleaseWait, 515, "please wait, init or command processing in progress"),
        ("please wait", errors.PleaseWait, 515, "please wait, init or command processing in progress"),
        ("30", errors.NoNetworkService, 30, "no network service"),
        ("148", errors.CMEError, 148, "unspecified GPRS error"),
        ("9999", errors.CMEError, 9999, "unlisted CME error 9999"),
    ],
)
def test_cme_errors_are_typed(value: str, cls: type[errors.CMEError], code: int, meaning: str) -> None:
    exc = errors.cme_error("AT+CPIN?", value)
    assert type(exc) is cls
    assert exc.code == code
    assert exc.meaning == meaning
    assert isinstance(exc, errors.CommandError) and isinstance(exc, errors.ModemError)
    assert meaning in str(exc) and "AT+CPIN?" in str(exc)


def test_unknown_verbose_cme_text_keeps_the_text() -> None:
    exc = errors.cme_error("AT+X", "vendor says no")
    assert type(exc) is errors.CMEError
    assert exc.code is None and exc.meaning == "vendor says no"


@pytest.mark.parametrize(
    ("value", "cls", "code", "meaning"),
    [
        ("330", errors.SmscAddressUnknown, 330, "SMSC address unknown"),
        ("314", errors.SmsSimBusy, 314, "(U)SIM busy"),
        # the SIM wording of 27.005 before Rel-5 (SIM800, M95 in +CMEE=2): transient all the same
        ("SIM busy", errors.SmsSimBusy, 314, "(U)SIM busy"),
        ("SIM not inserted", errors.CMSError, 310, "(U)SIM not inserted"),
        ("321", errors.InvalidMemoryIndex, 321, "invalid memory index"),
        ("500", errors.CMSError, 500, "unknown error"),
        ("42", errors.CMSError, 42, "congestion"),
        ("600", errors.CMSError, 600, "manufacturer-specific CMS error 600"),
    ],
)
def test_cms_errors_are_typed(value: str, cls: type[errors.CMSError], code: int, meaning: str) -> None:
    exc = errors.cms_error("AT+CMGS=20", value)
    assert type(exc) is cls and exc.code == code and exc.meaning == meaning
    assert errors.is_transient(exc) == (code == 314)


def test_tables_follow_the_specifications() -> None:
    # Spot checks against TS 27.007 §9.2.1/§9.2.2 and TS 27.005 §3.2.5.
    assert CME_ERRORS[0] == "phone failure"
    assert CME_ERRORS[3] == "operation not allowed"
    assert CME_ERRORS[100] == "unknown"
    assert CME_ERRORS[107] == "GPRS services not allowed"
    assert CME_ERRORS[133] == "service option temporarily out of order"
    assert CMS_ERRORS[300] == "ME failure"
    assert CMS_ERRORS[304] == "invalid PDU mode parameter"
    assert CMS_ERRORS[331] == "no network service"
    assert cme_meaning(515).startswith("please wait")
    assert cms_meaning(1) == "unassigned (unallocated) number"
    assert cme_code_from_text("  Incorrect Password ") == 16


def test_call_failed_and_timeout_messages() -> None:
    assert "BUSY" in str(errors.CallFailed("ATD123;", "BUSY"))
    t = errors.CommandTimeout("AT+COPS=?", 180.0)
    assert t.timeout == 180.0 and "180 s" in str(t)
