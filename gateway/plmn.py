"""Where a network is: country and tariff zone from the serving MCC (table in `data/plmn.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from accounting.records import Zone
from gateway.datafiles import load_table
from gateway.errors import ConfigError
from gateway.identity import validate_plmn


@dataclass(frozen=True, slots=True)
class Country:
    mcc: str
    country: str | None  # ISO 3166-1 alpha-2, None for an MCC not in the table
    zone: Zone
    name: str


class PlmnTable:
    """MCC -> country and zone; an MCC not in the table is `world`."""

    def __init__(self, entries: dict[str, Country]) -> None:
        self._by_mcc = entries

    @classmethod
    def load(cls, path: Path | None = None) -> PlmnTable:
        doc, source = load_table(path, "plmn.yaml")
        if not isinstance(doc.get("mcc"), dict):
            raise ConfigError(f"{source}: expected a mapping with key 'mcc'")
        entries: dict[str, Country] = {}
        for mcc, item in doc["mcc"].items():
            mcc = str(mcc)
            if len(mcc) != 3 or not mcc.isdigit() or not isinstance(item, dict):
                raise ConfigError(f"{source}: mcc {mcc!r}: expected 3 digits and a mapping")
            try:
                zone = Zone(item["zone"])
            except (KeyError, ValueError) as exc:
                raise ConfigError(f"{source}: mcc {mcc}: field 'zone' must be fr, eu or world") from exc
            entries[mcc] = Country(mcc, str(item.get("country", "")) or None, zone, str(item.get("name", "")))
        return cls(entries)

    def lookup(self, plmn: str) -> Country:
        """Country of a PLMN id (MCC+MNC) or a bare MCC."""
        mcc = plmn[:3]
        found = self._by_mcc.get(mcc)
        if found is None:
            return Country(mcc, None, Zone.WORLD, "")
        return found

    def zone(self, plmn: str) -> Zone:
        return self.lookup(plmn).zone


@cache
def default_table() -> PlmnTable:
    return PlmnTable.load()


def zone_of(serving_plmn: str) -> Zone:
    """Tariff zone of a serving network (MCC+MNC), from the packaged table."""
    return default_table().zone(validate_plmn(serving_plmn))
