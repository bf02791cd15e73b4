"""Final-result error codes as data: 3GPP TS 27.007 §9.2 (+CME ERROR) and TS 27.005 §3.2.5 (+CMS ERROR).

Vendor extensions that real modules send in the field (CME 515 "please wait", used by Wavecom,
SIMCom and Quectel while the module initialises) are listed separately so that the standard tables
stay what the specifications say.
"""

from __future__ import annotations

# TS 27.007 §9.2.1 (general), §9.2.2 (GPRS / packet domain) and §9.2.3 (VBS/VGCS/eMLPP).
CME_ERRORS: dict[int, str] = {
    0: "phone failure",
    1: "no connection to phone",
    2: "phone-adaptor link reserved",
    3: "operation not allowed",
    4: "operation not supported",
    5: "PH-SIM PIN required",
    6: "PH-FSIM PIN required",
    7: "PH-FSIM PUK required",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    16: "incorrect password",
    17: "SIM PIN2 required",
    18: "SIM PUK2 required",
    20: "memory full",
    21: "invalid index",
    22: "not found",
    23: "memory failure",
    24: "text string too long",
    25: "invalid characters in text string",
    26: "dial string too long",
    27: "invalid characters in dial string",
    30: "no network service",
    31: "network timeout",
    32: "network not allowed - emergency calls only",
    40: "network personalization PIN required",
    41: "network personalization PUK required",
    42: "network subset personalization PIN required",
    43: "network subset personalization PUK required",
    44: "service provider personalization PIN required",
    45: "service provider personalization PUK required",
    46: "corporate personalization PIN required",
    47: "corporate personalization PUK required",
    48: "hidden key required",
    49: "EAP method not supported",
    50: "incorrect parameters",
    51: "command implemented but currently disabled",
    52: "command aborted by user",
    53: "not attached to network due to MT functionality restrictions",
    54: "modem not allowed - MT restricted to emergency calls only",
    55: "operation not allowed because of MT functionality restrictions",
    56: "fixed dial number only allowed - called number is not a fixed dial number",
    57: "temporarily out of service due to other MT usage",
    58: "language/alphabet not supported",
    59: "unexpected data value",
    60: "system failure",
    61: "data missing",
    62: "call barred",
    63: "message waiting indication subscription failure",
    100: "unknown",
    103: "illegal MS",
    106: "illegal ME",
    107: "GPRS services not allowed",
    108: "GPRS services and non-GPRS services not allowed",
    111: "PLMN not allowed",
    112: "location area not allowed",
    113: "roaming not allowed in this location area",
    114: "GPRS services not allowed in this PLMN",
    115: "no suitable cells in tracking area",
    122: "congestion",
    125: "insufficient resources",
    126: "missing or unknown APN",
    127: "unknown PDP address or PDP type",
    128: "user authentication or authorization failed",
    129: "activation rejected by GGSN, Serving GW or PDN GW",
    130: "activation rejected, unspecified",
    131: "service option not supported",
    132: "requested service option not subscribed",
    133: "service option temporarily out of order",
    134: "NSAPI already used",
    140: "feature not supported",
    141: "semantic error in the TFT operation",
    142: "syntactical error in the TFT operation",
    143: "unknown PDP context",
    144: "semantic errors in packet filter(s)",
    145: "syntactical errors in packet filter(s)",
    146: "PDP context without TFT already activated",
    148: "unspecified GPRS error",
    149: "PDP authentication failure",
    150: "invalid mobile class",
    171: "last PDN disconnection not allowed",
    172: "semantically incorrect message",
    173: "mandatory information element error",
    174: "information element non-existent or not implemented",
    175: "conditional IE error",
    176: "protocol error, unspecified",
    177: "operator determined barring",
    178: "maximum number of PDP contexts reached",
    179: "requested APN not supported in current RAT and PLMN combination",
    180: "request rejected, bearer control mode violation",
    181: "unsupported QCI value",
    182: "user data transmission via control plane is congested",
    183: "invalid mandatory information",
    184: "message type non-existent or not implemented",
    185: "message type not compatible with the protocol state",
    186: "information element non-existent or not implemented",
    187: "conditional IE error",
    188: "message not compatible with the protocol state",
    189: "invalid transaction identifier value",
    190: "request rejected, BCM violation",
    191: "recovery on timer expiry",
    192: "protocol error, unspecified",
    193: "APN restriction value incompatible with active PDP context",
    194: "multiple accesses to a PDN connection not allowed",
    195: "PDP type IPv4 only allowed",
    196: "PDP type IPv6 only allowed",
    197: "single address bearers only allowed",
    198: "PDP type IPv4v6 only allowed",
    199: "PDP type non IP only allowed",
    200: "PDP type Ethernet only allowed",
    300: "VBS/VGCS not supported by the network",
    301: "no service subscription on SIM",
    302: "no subscription for group ID",
    303: "group ID not activated on SIM",
    304: "no matching notification",
    305: "VBS/VGCS call already present",
    306: "congestion",
    307: "network failure",
    308: "uplink busy",
    309: "no access rights for SIM file",
    310: "no subscription for priority",
    311: "operation not applicable or not possible",
    312: "group ID prefixes not supported",
    313: "group ID prefixes not usable for VBS",
    314: "group ID prefix value invalid",
}

# TS 27.005 §3.2.5: 0..127 are GSM 04.11 Annex E-2 RP causes, 128..255 GSM 03.40 §9.2.3.22 TP-FCS values.
CMS_ERRORS: dict[int, str] = {
    1: "unassigned (unallocated) number",
    8: "operator determined barring",
    10: "call barred",
    21: "short message transfer rejected",
    27: "destination out of service",
    28: "unidentified subscriber",
    29: "facility rejected",
    30: "unknown subscriber",
    38: "network out of order",
    41: "temporary failure",
    42: "congestion",
    47: "resources unavailable, unspecified",
    50: "requested facility not subscribed",
    69: "requested facility not implemented",
    81: "invalid short message transfer reference value",
    95: "invalid message, unspecified",
    96: "invalid mandatory information",
    97: "message type non-existent or not implemented",
    98: "message not compatible with short message protocol state",
    99: "information element non-existent or not implemented",
    111: "protocol error, unspecified",
    127: "interworking, unspecified",
    128: "telematic interworking not supported",
    129: "short message type 0 not supported",
    130: "cannot replace short message",
    143: "unspecified TP-PID error",
    144: "data coding scheme (alphabet) not supported",
    145: "message class not supported",
    159: "unspecified TP-DCS error",
    160: "command cannot be actioned",
    161: "command unsupported",
    175: "unspecified TP-Command error",
    176: "TPDU not supported",
    192: "SC busy",
    193: "no SC subscription",
    194: "SC system failure",
    195: "invalid SME address",
    196: "destination SME barred",
    197: "SM rejected-duplicate SM",
    198: "TP-VPF not supported",
    199: "TP-VP not supported",
    208: "(U)SIM SMS storage full",
    209: "no SMS storage capability in (U)SIM",
    210: "error in MS",
    211: "memory capacity exceeded",
    212: "(U)SIM application toolkit busy",
    213: "(U)SIM data download error",
    255: "unspecified error cause",
    300: "ME failure",
    301: "SMS service of ME reserved",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "(U)SIM not inserted",
    311: "(U)SIM PIN required",
    312: "PH-(U)SIM PIN required",
    313: "(U)SIM failure",
    314: "(U)SIM busy",
    315: "(U)SIM wrong",
    316: "(U)SIM PUK required",
    317: "(U)SIM PIN2 required",
    318: "(U)SIM PUK2 required",
    320: "memory failure",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}

# Vendor codes seen on real modules (outside the 27.007 range reserved for manufacturers, 512+).
VENDOR_CME_ERRORS: dict[int, str] = {
    515: "please wait, init or command processing in progress",
    516: "phone busy",
    517: "SIM toolkit in progress",
}

# Codes meaning "the module is not ready yet, ask again shortly": retried by the client (bounded).
TRANSIENT_CME: frozenset[int] = frozenset({14, 515, 516, 517})
TRANSIENT_CMS: frozenset[int] = frozenset({314})


def cme_meaning(code: int) -> str:
    """The meaning of a +CME ERROR code, or a generic phrase for a code no table knows."""
    return CME_ERRORS.get(code) or VENDOR_CME_ERRORS.get(code) or f"unlisted CME error {code}"


def cms_meaning(code: int) -> str:
    """The meaning of a +CMS ERROR code, or a generic phrase for a code no table knows."""
    if code in CMS_ERRORS:
        return CMS_ERRORS[code]
    if code >= 512:
        return f"manufacturer-specific CMS error {code}"
    return f"unlisted CMS error {code}"


def _by_text(table: dict[int, str]) -> dict[str, int]:
    """Text -> code; a text of the (U)SIM wording (27.005 since Rel-5) also as modules of the SIM's
    wording say it (`SIM busy` for 314: SIM800, M95, Wavecom)."""
    out: dict[str, int] = {}
    for code, text in table.items():
        out.setdefault(text.casefold(), code)
    for code, text in table.items():
        out.setdefault(text.replace("(U)", "").casefold(), code)
    return out


_CME_BY_TEXT = _by_text({**CME_ERRORS, **VENDOR_CME_ERRORS})
_CMS_BY_TEXT = _by_text(CMS_ERRORS)
# Verbose spellings real modules use that differ from the specification's wording.
_CME_ALIASES = {"please wait": 515, "sim not ready": 14, "invalid input value": 50, "wrong password": 16}


def cme_code_from_text(text: str) -> int | None:
    """Map a verbose (+CMEE=2) error text back to its code, if known."""
    key = text.strip().casefold()
    return _CME_BY_TEXT.get(key, _CME_ALIASES.get(key))


def cms_code_from_text(text: str) -> int | None:
    """Map a verbose +CMS ERROR text back to its code, if known."""
    return _CMS_BY_TEXT.get(text.strip().casefold())
