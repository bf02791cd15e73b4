"""The MCC table against the catalog's own zone lists (Orange M2M, March 2012).

The catalog names its zones in words: France métropolitaine; "l'Europe comprend les 27 pays membres
de l'Union Européenne (dont les Départements d'Outre Mer), plus la Suisse et Andorre"; and "autres
destinations".  The lists below are those words as countries: the oracle, written from the catalog,
not from the table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accounting.records import Zone
from gateway.errors import ConfigFileError
from gateway.plmn import PlmnTable, default_table

# The 27 members of the European Union in March 2012 (Croatia joined in July 2013).
EU_MEMBERS_2012 = {
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
}  # fmt: skip
PLUS = {"CH", "AD"}  # "plus la Suisse et Andorre"
# The DOM in March 2012 (Mayotte since March 2011) and the MCCs their networks use (E.212).
DOM_MCCS = {"Guadeloupe": "340", "Martinique": "340", "Guyane": "742", "Réunion": "647", "Mayotte": "647"}


def every_mcc() -> list[str]:
    return [f"{i:03d}" for i in range(1000) if default_table().assigned(f"{i:03d}")]


def test_the_catalog_counts_27_members() -> None:
    assert len(EU_MEMBERS_2012) == 27


@pytest.mark.parametrize("country", sorted(EU_MEMBERS_2012 - {"FR"} | PLUS))
def test_every_country_the_catalog_names_is_eu_through_its_mccs(country: str) -> None:
    mccs = [m for m in every_mcc() if default_table().lookup(m).country == country]
    assert mccs, f"{country}: no MCC in the table"
    assert {default_table().zone(m) for m in mccs} == {Zone.EU}


def test_france_metropolitaine_is_fr_and_its_dom_are_eu() -> None:
    table = default_table()
    assert table.zone("20801") == Zone.FR
    assert table.mccs(Zone.FR) == ["208"]  # no other MCC is France métropolitaine
    for dom, mcc in DOM_MCCS.items():
        assert table.zone(mcc) == Zone.EU, dom
    assert {
        table.lookup(m).country for m in every_mcc() if table.zone(m) != Zone.WORLD
    } == EU_MEMBERS_2012 | PLUS


def test_a_country_the_catalog_does_not_name_is_world() -> None:
    table = default_table()
    named = EU_MEMBERS_2012 | PLUS
    others = [m for m in every_mcc() if table.lookup(m).country not in named]
    assert len(others) > 150  # the rest of E.212, not a handful of common ones
    assert {table.zone(m) for m in others} == {Zone.WORLD}


@pytest.mark.parametrize(
    ("mcc", "country", "zone"),
    [
        ("219", "HR", Zone.WORLD),  # Croatia: a member from July 2013, after the catalog
        ("266", "GI", Zone.WORLD),  # Gibraltar: in the EU with the UK, but not a member country
        ("288", "FO", Zone.WORLD),  # Faroe Islands: Danish, outside the EU
        ("290", "GL", Zone.WORLD),  # Greenland: left the EC in 1985
        ("212", "MC", Zone.WORLD),  # Monaco: not named, for all its French networks' reach
        ("295", "LI", Zone.WORLD),  # Liechtenstein: EEA, not EU
        ("242", "NO", Zone.WORLD),
        ("292", "SM", Zone.WORLD),
        ("225", "VA", Zone.WORLD),
        ("308", "PM", Zone.WORLD),  # Saint-Pierre-et-Miquelon: a collectivité, not a DOM
        ("546", "NC", Zone.WORLD),  # New Caledonia
        ("547", "PF", Zone.WORLD),  # French Polynesia
        ("543", "WF", Zone.WORLD),  # Wallis and Futuna
    ],
)
def test_near_misses_follow_the_catalog(mcc: str, country: str, zone: Zone) -> None:
    found = default_table().lookup(mcc + "01")
    assert (found.country, found.zone) == (country, zone)


def test_shared_mccs_are_one_country() -> None:
    table = default_table()
    assert {table.lookup(m).country for m in ("310", "311", "312", "313", "314", "315", "316")} == {"US"}
    assert {table.lookup(m).country for m in ("234", "235")} == {"GB"}
    assert table.lookup("901").country is None and table.zone("90112") == Zone.WORLD  # satellite, maritime


@pytest.mark.parametrize("plmn", ["00101", "99999", "28967", "26701", "64400"])
def test_an_unassigned_mcc_is_not_assigned_and_rated_world(plmn: str) -> None:
    """Test (001), private (999) and unofficial (289) codes, and gaps: `assigned` says no; a record
    read with one is still rated (`world`, the rest of the world), never dropped."""
    table = default_table()
    assert not table.assigned(plmn)
    assert table.lookup(plmn).country is None and table.zone(plmn) == Zone.WORLD


@pytest.mark.parametrize(
    ("plmn", "country", "zone"),
    [
        ("23415", "GB", Zone.EU),  # Vodafone UK
        ("23410", "GB", Zone.EU),  # O2 UK
        ("23450", "JE", Zone.WORLD),  # JT, Jersey: a Crown Dependency, not the UK nor an EU member
        ("23403", "JE", Zone.WORLD),  # Airtel-Vodafone, Jersey and Guernsey
        ("23455", "GG", Zone.WORLD),  # Sure, Guernsey
        ("23458", "IM", Zone.WORLD),  # Manx Telecom, Isle of Man
        ("23436", "IM", Zone.WORLD),  # Sure, Isle of Man
    ],
)
def test_the_crown_dependencies_networks_in_234_are_not_the_uk(plmn: str, country: str, zone: Zone) -> None:
    """Their networks were rated `eu` (7 €/Mo abroad on Business) with the UK's MCC, though the catalog's
    Europe is the 27 members: `world` (10 €/Mo)."""
    found = default_table().lookup(plmn)
    assert (found.country, found.zone) == (country, zone)


def test_a_network_entry_is_checked_like_an_mcc(tmp_path: Path) -> None:
    table = tmp_path / "plmn.yaml"
    table.write_text(
        'mcc:\n  "234":\n    zone: eu\n    networks:\n      "5": {zone: world}\n', encoding="utf-8"
    )
    with pytest.raises(ConfigFileError, match=r"plmn\.yaml:5: mcc\.234\.networks\.5: expected an MNC"):
        PlmnTable.load(table)
    table.write_text(
        'mcc:\n  "234":\n    zone: eu\n    networks:\n      "50": {zone: wrld}\n', encoding="utf-8"
    )
    with pytest.raises(ConfigFileError, match=r"mcc\.234\.networks\.50\.zone: must be fr, eu or world"):
        PlmnTable.load(table)
    table.write_text(
        'mcc:\n  "234":\n    zone: eu\n    networks:\n      "50": {zone: world}\n', encoding="utf-8"
    )
    assert (
        PlmnTable.load(table).zone("23450") == Zone.WORLD and PlmnTable.load(table).zone("23415") == Zone.EU
    )
