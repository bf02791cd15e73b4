"""Classifying a dialled number (emergency, fr-mobile, fr-fixed, fr-premium, intl) with the plan in `data/numbering.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from accounting.records import Dest
from gateway.datafiles import check_table_keys, load_table
from gateway.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Classified:
    dest: Dest
    e164: str | None  # the number as E.164 digits (None for a short code)


class InvalidNumber(ValueError):
    """A dialled number that is not a number of the plan (the network answers 'invalid number format')."""


class NumberingPlan:
    def __init__(
        self,
        country_code: str,
        national_prefix: str,
        international_prefix: str,
        nsn_digits: int,
        short_code_digits: tuple[int, int],
        ranges: dict[str, Dest],
        emergency_numbers: frozenset[str] = frozenset(),
    ) -> None:
        self.country_code = country_code
        self.national_prefix = national_prefix
        self.international_prefix = international_prefix
        self.nsn_digits = nsn_digits
        self.short_code_digits = short_code_digits
        self.ranges = ranges
        self.emergency_numbers = emergency_numbers
        self._longest = max((len(p) for p in ranges), default=1)

    @classmethod
    def load(cls, path: Path | None = None) -> NumberingPlan:
        doc, source = load_table(path, "numbering.yaml")
        keys = (
            "country_code",
            "national_prefix",
            "international_prefix",
            "nsn_digits",
            "short_code_digits",
            "ranges",
        )
        check_table_keys(doc, (*keys, "emergency_numbers"), source, "", required=keys)
        try:
            emergency = frozenset(str(n) for n in doc.get("emergency_numbers") or ())
            if not all(n.isascii() and n.isdigit() for n in emergency):
                raise ValueError(f"emergency_numbers: digits only, got {sorted(emergency)}")
            ranges = {str(k): Dest(v) for k, v in doc["ranges"].items()}
            lo, hi = doc["short_code_digits"]
            return cls(
                str(doc["country_code"]),
                str(doc["national_prefix"]),
                str(doc["international_prefix"]),
                int(doc["nsn_digits"]),
                (int(lo), int(hi)),
                ranges,
                emergency,
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ConfigError(f"{source}: unusable numbering plan: {exc}") from exc

    def _national(self, nsn: str, dialled: str) -> Classified:
        if len(nsn) != self.nsn_digits:
            raise InvalidNumber(
                f"{dialled!r}: a national number has {self.nsn_digits} digits after the prefix"
            )
        for size in range(min(self._longest, len(nsn)), 0, -1):
            dest = self.ranges.get(nsn[:size])
            if dest is not None:
                return Classified(dest, self.country_code + nsn)
        raise InvalidNumber(f"{dialled!r}: no such range in the numbering plan")

    @staticmethod
    def _digits(dialled: str) -> str:
        return dialled.strip().replace(" ", "").replace("-", "").replace(".", "")

    def is_emergency(self, dialled: str) -> bool:
        """Whether `dialled` is one of the plan's emergency numbers (as dialled, no prefix)."""
        return self._digits(dialled) in self.emergency_numbers

    def classify(self, dialled: str) -> Classified:
        """Class of a dialled number; raises InvalidNumber for what is not a number."""
        number = self._digits(dialled)
        if number in self.emergency_numbers:
            return Classified(Dest.EMERGENCY, None)
        international = number.startswith("+")
        if international:
            number = number[1:]
        if not number or not number.isascii() or not number.isdigit():
            raise InvalidNumber(f"{dialled!r}: not a number (digits, with an optional leading '+')")
        if not international and number.startswith(self.international_prefix):
            number = number[len(self.international_prefix) :]
            international = True
        if international:
            return self._e164(number, dialled)
        if number.startswith(self.national_prefix):
            return self._national(number[len(self.national_prefix) :], dialled)
        lo, hi = self.short_code_digits
        if lo <= len(number) <= hi:
            return Classified(Dest.FR_PREMIUM, None)
        if len(number) < 8:
            raise InvalidNumber(f"{dialled!r}: neither a short code, a national number nor E.164 digits")
        return self._e164(number, dialled)

    def _e164(self, number: str, dialled: str) -> Classified:
        if not 7 <= len(number) <= 15 or number[0] == "0":
            raise InvalidNumber(
                f"{dialled!r}: an international number has 7 to 15 digits, country code first"
            )
        if number.startswith(self.country_code):
            return self._national(number[len(self.country_code) :], dialled)
        return Classified(Dest.INTL, number)


@cache
def default_plan() -> NumberingPlan:
    return NumberingPlan.load()
