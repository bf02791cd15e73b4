"""Samples of the operator logs m2msim converts, shared by their tests and the reliability suite:
a FreeRADIUS detail file (`DETAIL`: a session's Start, Interim-Updates, one re-sent, its Stop, then
Accounting-Off) and an osmo-sgsn CDR file (`CDR`, with its `HEADER`: a context's rows from attach to
detach)."""

from __future__ import annotations

DETAIL = """\
Sun Mar  1 10:00:00 2026
\tAcct-Status-Type = Start
\tAcct-Session-Id = "4f2a0001"
\tUser-Name = "208011234567890"
\tNAS-IP-Address = 192.0.2.1
\tClass = 0x8f00a1ff3c5d0102
\tCalled-Station-Id = "m2m.example"
\tCalling-Station-Id = "33612345678"
\t3GPP-IMSI = "208011234567890"
\t3GPP-Charging-ID = 4242
\t3GPP-SGSN-MCC-MNC = "20801"
\t3GPP-SGSN-Address = 192.0.2.50
\t3GPP-RAT-Type = UTRAN
\t3GPP-MS-Time-Zone = 0x4000
\t3GPP-IMEISV = "3520990012345601"
\tEvent-Timestamp = "Mar  1 2026 10:00:00 UTC"
\tAcct-Delay-Time = 0
\tTimestamp = 1772359200

Sun Mar  1 22:00:00 2026
\tAcct-Status-Type = Interim-Update
\tAcct-Session-Id = "4f2a0001"
\tNAS-IP-Address = 192.0.2.1
\tClass = 0x8f00a1ff3c5d0102
\tCalling-Station-Id = "33612345678"
\t3GPP-SGSN-MCC-MNC = "20801"
\t3GPP-RAT-Type = UTRAN
\tAcct-Session-Time = 43200
\tAcct-Input-Octets = 1000
\tAcct-Output-Octets = 5000
\tAcct-Input-Gigawords = 0
\tAcct-Output-Gigawords = 1
\tEvent-Timestamp = "Mar  1 2026 22:00:00 UTC"
\tTimestamp = 1772402400

Sun Mar  1 22:00:07 2026
\tAcct-Status-Type = Interim-Update
\tAcct-Session-Id = "4f2a0001"
\tNAS-IP-Address = 192.0.2.1
\tCalling-Station-Id = "33612345678"
\t3GPP-SGSN-MCC-MNC = "20801"
\tAcct-Session-Time = 43200
\tAcct-Input-Octets = 1000
\tAcct-Output-Octets = 5000
\tAcct-Input-Gigawords = 0
\tAcct-Output-Gigawords = 1
\tAcct-Delay-Time = 7
\tEvent-Timestamp = "Mar  1 2026 22:00:00 UTC"
\tTimestamp = 1772402407

Mon Mar  2 01:00:00 2026
\tAcct-Status-Type = Interim-Update
\tAcct-Session-Id = "4f2a0001"
\tNAS-IP-Address = 192.0.2.1
\tCalling-Station-Id = "33612345678"
\t3GPP-SGSN-MCC-MNC = "21407"
\t3GPP-RAT-Type = UTRAN
\tAcct-Session-Time = 54000
\tAcct-Input-Octets = 1500
\tAcct-Output-Octets = 6000
\tAcct-Input-Gigawords = 0
\tAcct-Output-Gigawords = 1
\tEvent-Timestamp = "Mar  2 2026 01:00:00 UTC"
\tTimestamp = 1772413200

Mon Mar  2 02:00:00 2026
\tAcct-Status-Type = Stop
\tAcct-Session-Id = "4f2a0001"
\tNAS-IP-Address = 192.0.2.1
\tCalling-Station-Id = "33612345678"
\t3GPP-SGSN-MCC-MNC = "21407"
\tAcct-Session-Time = 57600
\tAcct-Input-Octets = 1600
\tAcct-Output-Octets = 6100
\tAcct-Input-Gigawords = 0
\tAcct-Output-Gigawords = 1
\tAcct-Terminate-Cause = User-Request
\tEvent-Timestamp = "Mar  2 2026 02:00:00 UTC"
\tTimestamp = 1772416800

Mon Mar  2 02:00:01 2026
\tAcct-Status-Type = Accounting-Off
\tNAS-IP-Address = 192.0.2.1
\tTimestamp = 1772416801

"""

HEADER = (
    "timestamp,imsi,imei,msisdn,cell_id,lac,hlr,event,pdp_duration,ggsn_addr,sgsn_addr,apni,eua_addr,"
    "vol_in,vol_out,charging_id"
)
CDR = f"""\
{HEADER}
20260301100000123,208011234567890,3520990012345601,33612345678,1234,10,hlr1,attach
20260301100001000,208011234567890,3520990012345601,33612345678,1234,10,hlr1,pdp-act,0,192.0.2.1,192.0.2.50,m2m.example,10.0.0.7,0,0,9001
20260301101001000,208011234567890,3520990012345601,33612345678,1234,10,hlr1,pdp-periodic,600,192.0.2.1,192.0.2.50,m2m.example,10.0.0.7,1200,34000,9001
20260301102001000,208011234567890,3520990012345601,33612345678,1234,10,hlr1,pdp-periodic,1200,192.0.2.1,192.0.2.50,m2m.example,10.0.0.7,1500,5000000000,9001
20260301102501000,208011234567890,3520990012345601,33612345678,1234,10,hlr1,pdp-deact,1500,192.0.2.1,192.0.2.50,m2m.example,10.0.0.7,1800,5000000100,9001
20260301102501002,208011234567890,3520990012345601,33612345678,1234,10,hlr1,pdp-free,1500,192.0.2.1,192.0.2.50,m2m.example,10.0.0.7,1800,5000000100,9001
20260301102502000,208011234567890,3520990012345601,33612345678,1234,10,hlr1,detach
"""
