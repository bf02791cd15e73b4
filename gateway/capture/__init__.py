"""Packet capture of the gateway's control and accounting traffic, and records read back from it.

- `PcapCapture`: a `gateway.events.CaptureSink` writing GTPv1-C, RADIUS accounting
  and sampled GTP-U packets to a pcap, from pre-serialised byte templates.
- `records_from_pcap`: usage records rebuilt from a capture's RADIUS accounting.
- `gateway.capture.reference`: the same packets defined with scapy (the reference).
"""

from gateway.capture.codec import CaptureError
from gateway.capture.reader import CaptureFileError, ReadReport, Reject, records_from_pcap
from gateway.capture.sink import DEFAULT_SECRET, PcapCapture

__all__ = [
    "DEFAULT_SECRET",
    "CaptureError",
    "CaptureFileError",
    "PcapCapture",
    "ReadReport",
    "Reject",
    "records_from_pcap",
]
