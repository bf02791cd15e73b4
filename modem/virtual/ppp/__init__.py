"""PPP on the virtual modem's serial line (RFC 1661, 1662, 1332, 1334, 1877, 1994): the data bearer of
`ATD*99#` and `AT+CGDATA="PPP"`, and the user-space IP forwarder behind it.

- `hdlc`: the HDLC-like framing (flags, escaping under an ACCM, FCS-16);
- `cp`: the option negotiation automaton shared by LCP and IPCP;
- `lcp`, `ipcp`, `auth`: the options and PAP / CHAP, either side of the link;
- `link`: one end of a link through its phases (`role="network"`: the modem, `"device"`: a client);
- `ip`, `forwarder`: IPv4 / ICMP / UDP / TCP and the forwarder to host sockets;
- `bearer`: the modem's side (commands, suspension, the PDP context, byte counting).
"""
