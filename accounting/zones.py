"""Where a network is: country and tariff zone of a serving network (MCC+MNC), from the table in
`accounting/data/plmn.yaml`.

The zone a data session belongs to is the tariff's (`fr`, `eu`, `world`: the catalog's reading in
tariff-rules), decided by the network it was opened on.  The table is here, with the tariff, so
that everything that rates a session reads the one table: the gateway writes its records' zone from
it (`gateway.plmn` re-exports it, with its own loader's errors) and the bench harness the zone of a
bench run's sessions from the network the modem reported (`hil.usage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from accounting.records import Zone
from m2msim.yamlio import LocatedDict, YamlError, check_keys, mapping, parse_yaml

BUNDLED = "accounting/data/plmn.yaml"


@dataclass(frozen=True, slots=True)
class Country:
    mcc: str
    country: str | None  # ISO 3166-1 alpha-2, None for an MCC not in the table
    zone: Zone
    name: str


class PlmnTable:
    """MCC -> country and zone.  The table lists every assigned MCC (ITU-T E.212); an MCC not in it
    is not assigned: `assigned` says so (scenarios refuse it), `lookup` rates it `world`.  A few
    networks (MCC+MNC) of a shared MCC are in another country than their MCC's (`networks`)."""

    def __init__(self, entries: dict[str, Country], networks: dict[str, Country] | None = None) -> None:
        self._by_mcc = entries
        self._by_plmn = networks or {}

    @classmethod
    def from_mapping(cls, doc: LocatedDict, source: str) -> PlmnTable:
        """The table in a YAML mapping read from `source`; `YamlError` names the line and key."""
        if not isinstance(doc.get("mcc"), dict):
            raise YamlError(source, doc.line, "", "expected a mapping with key 'mcc'")
        check_keys(doc, ("mcc",), source, "")
        entries: dict[str, Country] = {}
        networks: dict[str, Country] = {}
        table: LocatedDict = doc["mcc"]
        for mcc, item in table.items():
            mcc = str(mcc)
            if len(mcc) != 3 or not mcc.isdigit() or not isinstance(item, LocatedDict):
                raise YamlError(source, table.line_of(mcc), f"mcc.{mcc}", "expected 3 digits and a mapping")
            check_keys(item, ("country", "zone", "name", "networks"), source, f"mcc.{mcc}")
            entries[mcc] = _country(item, mcc, source, f"mcc.{mcc}")
            listed = item.get("networks", LocatedDict())
            if not isinstance(listed, LocatedDict):
                raise YamlError(source, item.line_of("networks"), f"mcc.{mcc}.networks", "expected a mapping")
            for mnc, network in listed.items():
                mnc = str(mnc)
                key = f"mcc.{mcc}.networks.{mnc}"
                if len(mnc) not in (2, 3) or not mnc.isdigit() or not isinstance(network, LocatedDict):
                    raise YamlError(
                        source, listed.line_of(mnc), key, "expected an MNC (2 or 3 digits) and a mapping"
                    )
                check_keys(network, ("country", "zone", "name"), source, key)
                networks[mcc + mnc] = _country(network, mcc, source, key)
        return cls(entries, networks)

    def lookup(self, plmn: str) -> Country:
        """Country of a PLMN id (MCC+MNC) or a bare MCC: the network's own entry, else its MCC's."""
        mcc = plmn[:3]
        found = self._by_plmn.get(plmn) or self._by_mcc.get(mcc)
        if found is None:
            return Country(mcc, None, Zone.WORLD, "")
        return found

    def assigned(self, plmn: str) -> bool:
        """Whether the MCC of a PLMN id (or a bare MCC) is in the table: an assigned MCC."""
        return plmn[:3] in self._by_mcc

    def zone(self, plmn: str) -> Zone:
        return self.lookup(plmn).zone

    def mccs(self, zone: Zone) -> list[str]:
        """The MCCs of a zone, in order (`fr`: France's networks)."""
        return sorted(mcc for mcc, country in self._by_mcc.items() if country.zone == zone)

    def networks(self, zone: Zone) -> list[str]:
        """The networks (MCC+MNC) listed on their own whose zone is `zone`, in order."""
        return sorted(plmn for plmn, country in self._by_plmn.items() if country.zone == zone)


def _country(item: LocatedDict, mcc: str, source: str, path: str) -> Country:
    try:
        zone = Zone(item["zone"])
    except (KeyError, ValueError) as exc:
        raise YamlError(source, item.line_of("zone"), f"{path}.zone", "must be fr, eu or world") from exc
    return Country(mcc, str(item.get("country", "")) or None, zone, str(item.get("name", "")))


def bundled_mapping() -> LocatedDict:
    """The bundled table as read from its YAML (`BUNDLED` names it in errors)."""
    text = resources.files("accounting").joinpath("data/plmn.yaml").read_text(encoding="utf-8")
    return mapping(parse_yaml(text, BUNDLED), BUNDLED, "")


@cache
def default_table() -> PlmnTable:
    """The bundled table."""
    return PlmnTable.from_mapping(bundled_mapping(), BUNDLED)


def zone_of_plmn(plmn: str) -> Zone:
    """Tariff zone of a network (MCC+MNC, or a bare MCC) by the bundled table; an MCC not in it is
    `world`."""
    return default_table().zone(plmn)


# A usage row's zone derived from its `serving_plmn` (a file without a `zone` column): a refusal is
# this mark followed by the value and why, in the zone's place, so that every reader carries it in
# the aggregate's key as it carries a zone, and the rating refuses it (`usage._judge`, 'bad-plmn').
PLMN_REFUSED = "\x1f"


def _refused_plmn(plmn: str, why: str) -> str:
    return f"{PLMN_REFUSED}'{plmn}': {why}"


_NOT_A_PLMN = "not an MCC+MNC (5 or 6 digits)"
_NOT_ASSIGNED = "MCC {} is not an assigned mobile country code (ITU-T E.212)"


def usage_zone(plmn: str | None, table: PlmnTable | None = None) -> str | None:
    """The zone of a usage row read from its serving network (MCC+MNC), as the gateway decides it
    (`lookup`: the network's own entry, else its MCC's); None for an empty one (the contract's
    default zone, `fr`); for one that is no MCC+MNC (5 or 6 digits) or whose MCC is not assigned,
    `PLMN_REFUSED` and why.  `usage_zone_sql` is this in DuckDB's SQL."""
    if not plmn:
        return None
    table = table or default_table()
    if not (5 <= len(plmn) <= 6 and plmn.isascii() and plmn.isdigit()):
        return _refused_plmn(plmn, _NOT_A_PLMN)
    if not table.assigned(plmn):
        return _refused_plmn(plmn, _NOT_ASSIGNED.format(plmn[:3]))
    return table.zone(plmn).value


def usage_zone_sql(column: str, table: PlmnTable | None = None) -> str:
    """SQL (DuckDB) of `usage_zone` on `column` (its text), vectorised: the few networks listed on
    their own in a constant list, then the zone of the 3-digit MCC taken from a constant list by
    its number (NULL: not assigned); no function of Python per row, no search among the MCCs."""
    table = table or default_table()
    p = f"CAST({column} AS VARCHAR)"
    mark = f"chr({ord(PLMN_REFUSED)}) || '''' || {p} || ''': "
    by_mcc: list[str | None] = [None] * 1000
    for zone in Zone:
        for mcc in table.mccs(zone):
            by_mcc[int(mcc)] = zone.value
    zones = ", ".join("NULL" if z is None else f"'{z}'" for z in by_mcc)
    mcc = f"substr({p}, 1, 3)"
    unassigned = _NOT_ASSIGNED.replace("{}", f"' || {mcc} || '")
    cases = [
        f"WHEN {p} IS NULL OR {p} = '' THEN NULL",
        f"WHEN NOT regexp_full_match({p}, '[0-9]{{5,6}}') THEN {mark}{_NOT_A_PLMN}'",
    ]
    for zone in Zone:
        networks = ", ".join(f"'{n}'" for n in table.networks(zone))
        if networks:
            cases.append(f"WHEN {p} IN ({networks}) THEN '{zone.value}'")
    by_number = f"list_extract([{zones}], CAST({mcc} AS INTEGER) + 1)"
    return f"(CASE {' '.join(cases)} ELSE COALESCE({by_number}, {mark}{unassigned}') END)"
