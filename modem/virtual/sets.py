"""Every command set a virtual modem profile can name in `commands:`, by name.

Filled here, explicitly: a new set is a `CommandSet` (or a `StatefulSet` when its commands share
state) in its own module, listed in `_ALL` below, and named by the profiles that have it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from modem.virtual.calls import CSD, VOICE_CALLS
from modem.virtual.cmd_basic import V250
from modem.virtual.cmd_clock import CLOCK
from modem.virtual.cmd_cnmp import SIMCOM_RAT
from modem.virtual.cmd_forwarding import FORWARDING
from modem.virtual.cmd_general import GENERAL
from modem.virtual.cmd_http import SIMCOM_HTTP
from modem.virtual.cmd_network import GPRS, NETWORK
from modem.virtual.cmd_phonebook import PHONEBOOK
from modem.virtual.cmd_power import BATTERY, QUECTEL_POWER, SIMCOM_POWER
from modem.virtual.cmd_qfile import QUECTEL_FILE
from modem.virtual.cmd_qhttp import QUECTEL_HTTP
from modem.virtual.cmd_qmqtt import QUECTEL_MQTT
from modem.virtual.cmd_qssl import QUECTEL_SSL
from modem.virtual.cmd_quectel import QUECTEL_TCP
from modem.virtual.cmd_sapbr import SIMCOM_BEARER
from modem.virtual.cmd_simcom import SIMCOM_TCP
from modem.virtual.cmd_smqtt import SIMCOM_MQTT
from modem.virtual.cmd_sms import SMS
from modem.virtual.cmd_ussd import USSD
from modem.virtual.registry import CommandSet

_ALL: tuple[CommandSet, ...] = (
    V250,
    GENERAL,
    CLOCK,
    NETWORK,
    GPRS,
    SMS,
    VOICE_CALLS,
    CSD,
    SIMCOM_TCP,
    SIMCOM_BEARER,
    SIMCOM_HTTP,
    SIMCOM_MQTT,
    SIMCOM_RAT,
    QUECTEL_TCP,
    QUECTEL_HTTP,
    QUECTEL_MQTT,
    QUECTEL_SSL,
    QUECTEL_FILE,
    SIMCOM_POWER,
    QUECTEL_POWER,
    BATTERY,
    USSD,
    FORWARDING,
    PHONEBOOK,
)

COMMAND_SETS: Mapping[str, CommandSet] = MappingProxyType({s.name: s for s in _ALL})
