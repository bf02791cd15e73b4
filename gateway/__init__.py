"""m2msim's operator side: APN gateway, SMSC, call switch, autodiagnostic alarms, capture.

Entry points: `gateway.network.Network` (implements `gateway.api.NetworkAPI`),
`gateway.network.NetworkConfig`, `gateway.partial.cut_sessions` (the 12-hour
partial-record rule, vectorised), `gateway.alarms.load_alarm_config`.
See docs/gateway.md.
"""
