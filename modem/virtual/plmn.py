"""Operator names by PLMN (MCC+MNC), as +COPS shows them (long and short alphanumeric)."""

from __future__ import annotations

# A few networks an M2M fleet in France and its roaming zones sees.
PLMN_NAMES: dict[str, tuple[str, str]] = {
    "20801": ("Orange F", "Orange"),
    "20810": ("SFR", "SFR"),
    "20815": ("Free", "Free"),
    "20820": ("Bouygues Telecom", "BYTEL"),
    "20601": ("Proximus", "Proximus"),
    "20610": ("Orange B", "Orange"),
    "20620": ("BASE", "BASE"),
    "26201": ("Telekom.de", "TDG"),
    "26202": ("Vodafone.de", "Vodafone"),
    "22210": ("vodafone IT", "voda IT"),
    "21407": ("Movistar", "Movistar"),
    "23415": ("vodafone UK", "voda UK"),
    "22801": ("Swisscom", "Swisscom"),
    "310410": ("AT&T", "AT&T"),
}


def operator_names(plmn: str) -> tuple[str, str]:
    """(long, short) names of `plmn`; the numeric code itself when unknown."""
    return PLMN_NAMES.get(plmn, (plmn, plmn))


def neighbours(plmn: str) -> list[str]:
    """Other networks of the same country, listed by AT+COPS=? as available."""
    return [p for p in PLMN_NAMES if p != plmn and p[:3] == plmn[:3]]
