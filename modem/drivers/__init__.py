"""Modem drivers: the generic 3GPP driver and the vendor TCP stacks, configured by profile data."""

from modem.drivers.generic import TCP_STACKS, Modem, ProbeReport
from modem.drivers.profile import DriverProfile, TcpSettings, load_driver_profile

__all__ = ["TCP_STACKS", "DriverProfile", "Modem", "ProbeReport", "TcpSettings", "load_driver_profile"]
