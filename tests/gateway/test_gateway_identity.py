"""Identities, numbering plan and zones (gateway.identity, gateway.numbering, gateway.plmn)."""

from __future__ import annotations

import pytest

from accounting.records import Dest, Zone
from gateway.errors import InvalidIdentity
from gateway.identity import (
    imei14,
    luhn_check_digit,
    normalise_imeisv,
    validate_imsi,
    validate_msisdn,
    validate_plmn,
)
from gateway.numbering import InvalidNumber, default_plan
from gateway.plmn import default_table, zone_of


def test_luhn_check_digit_of_a_published_imei() -> None:
    # TS 23.003 annex B worked example style: 49015420323751 -> check digit 8
    assert luhn_check_digit("49015420323751") == 8
    assert luhn_check_digit("35693803564380") == 9


def test_imei_with_check_digit_becomes_imeisv() -> None:
    assert normalise_imeisv("490154203237518") == "4901542032375100"
    assert normalise_imeisv("4901542032375123") == "4901542032375123"
    assert imei14("4901542032375123") == "49015420323751"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("490154203237517", "check digit is 7, expected 8"),
        ("49015420323751", "must be 15 \\(IMEI\\) or 16 \\(IMEISV\\) digits, got 14"),
        ("49015420323751A8", "decimal digits only"),
        ("", "decimal digits only"),
    ],
)
def test_malformed_imei_is_refused_with_the_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentity, match=reason) as info:
        normalise_imeisv(value)
    assert info.value.field == "imeisv"


def test_imsi_lengths() -> None:
    assert validate_imsi("20801123456789") == "20801123456789"
    assert validate_imsi("208011234567890") == "208011234567890"
    for bad in ("2080112345678", "2080112345678901", "20801-23456789", "２０８０１１２３４５６７８９"):
        with pytest.raises(InvalidIdentity, match="imsi"):
            validate_imsi(bad)


def test_msisdn_is_e164_digits() -> None:
    assert validate_msisdn("33612345678") == "33612345678"
    for bad in ("0612345678", "+33612345678", "3361234", "3361234567890123"):
        with pytest.raises(InvalidIdentity, match="msisdn"):
            validate_msisdn(bad)


def test_plmn_ids() -> None:
    assert validate_plmn("20801") == "20801"
    assert validate_plmn("310410") == "310410"
    for bad in ("2080", "2080112", "208O1"):
        with pytest.raises(InvalidIdentity):
            validate_plmn(bad)


@pytest.mark.parametrize(
    ("plmn", "zone"),
    [
        ("20801", Zone.FR),
        ("20810", Zone.FR),
        ("34001", Zone.EU),  # Orange Caraïbe (DOM)
        ("64700", Zone.EU),  # Orange Réunion (DOM)
        ("20610", Zone.EU),  # Belgium
        ("26201", Zone.EU),  # Germany
        ("23415", Zone.EU),  # United Kingdom, a member in 2012
        ("22801", Zone.EU),  # Switzerland
        ("21303", Zone.EU),  # Andorra
        ("21910", Zone.WORLD),  # Croatia joined in 2013
        ("31041", Zone.WORLD),
        ("99999", Zone.WORLD),  # not in the table
    ],
)
def test_zone_from_the_serving_mcc(plmn: str, zone: Zone) -> None:
    assert zone_of(plmn) == zone


def test_the_eu_zone_has_the_27_members_plus_switzerland_and_andorra() -> None:
    table = default_table()
    eu_countries = {
        c.country for mcc in (f"{i:03d}" for i in range(200, 800)) if (c := table.lookup(mcc)).zone == Zone.EU
    }
    # 26 members besides France, France itself through its DOM, plus CH and AD
    assert len(eu_countries - {"FR"}) == 26 + 2
    assert {"CH", "AD", "FR"} <= eu_countries


@pytest.mark.parametrize(
    ("dialled", "dest", "e164"),
    [
        ("0612345678", Dest.FR_MOBILE, "33612345678"),
        ("+33712345678", Dest.FR_MOBILE, "33712345678"),
        ("33612345678", Dest.FR_MOBILE, "33612345678"),
        ("0033 6 12 34 56 78", Dest.FR_MOBILE, "33612345678"),
        ("0145678901", Dest.FR_FIXED, "33145678901"),
        ("0556789012", Dest.FR_FIXED, "33556789012"),
        ("0970123456", Dest.FR_FIXED, "33970123456"),
        ("0899123456", Dest.FR_PREMIUM, "33899123456"),
        ("36180", Dest.FR_PREMIUM, None),
        ("0690123456", Dest.INTL, "33690123456"),  # Guadeloupe mobile: DOM, not métropole
        ("+32470123456", Dest.INTL, "32470123456"),
        ("004915112345678", Dest.INTL, "4915112345678"),
    ],
)
def test_numbering_plan_classes(dialled: str, dest: Dest, e164: str | None) -> None:
    got = default_plan().classify(dialled)
    assert got.dest == dest
    assert got.e164 == e164


@pytest.mark.parametrize("dialled", ["", "+", "06123", "061234567890", "abc", "+0612345678", "1234567"])
def test_numbering_plan_refuses_what_is_not_a_number(dialled: str) -> None:
    with pytest.raises(InvalidNumber):
        default_plan().classify(dialled)
