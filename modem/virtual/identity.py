"""Per-modem identities derived from a profile, a seed and an index: IMEI (Luhn), IMSI, ICCID, MSISDN."""

from __future__ import annotations

import random
from dataclasses import dataclass

from gateway.api import home_plmn
from modem.profiles import Profile, luhn_digit


@dataclass(frozen=True, slots=True)
class ModemIdentity:
    imei: str  # 15 digits, Luhn check digit last
    imeisv: str  # 14 IMEI digits + 2-digit software version
    imsi: str  # 15 digits
    iccid: str  # 20 digits, Luhn check digit last
    msisdn: str  # E.164 digits without '+'
    line_id: str  # the line as the gateway knows it

    @property
    def home_plmn(self) -> str:
        """The SIM's home network, MCC+MNC: 6 digits for an MCC of 3-digit MNCs (a US SIM's 310260,
        which was taken as 31026 and so roaming, +CREG 5, on its own network)."""
        return home_plmn(self.imsi)


def derive_identity(profile: Profile, seed: int = 0, index: int = 0) -> ModemIdentity:
    """The identity of modem number `index` of `profile` in a run seeded with `seed` (replayable)."""
    rng = random.Random(f"{profile.name}/{seed}/{index}")
    ident = profile.identity
    first = index == 0

    def fill(prefix: str, length: int) -> str:
        return prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix)))

    body = fill(ident.imei_tac, 14)
    imei = ident.imei if (first and ident.imei) else body + luhn_digit(body)
    imsi = ident.imsi if (first and ident.imsi) else fill(ident.imsi_prefix, 15)
    iccid_body = fill(ident.iccid_prefix, 19)
    iccid = ident.iccid if (first and ident.iccid) else iccid_body + luhn_digit(iccid_body)
    msisdn = ident.msisdn if (first and ident.msisdn) else fill(ident.msisdn_prefix, 11)
    sv = "".join(ch for ch in ident.revision if ch.isdigit())[-2:].rjust(2, "0")
    return ModemIdentity(
        imei=imei, imeisv=imei[:14] + sv, imsi=imsi, iccid=iccid, msisdn=msisdn, line_id=f"vm-{imsi}"
    )
