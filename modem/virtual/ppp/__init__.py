"""PPP on the virtual modem's serial line (RFC 1661, 1662, 1332, 1334, 1877, 1994): the data bearer of
`ATD*99#` and `AT+CGDATA="PPP"`, and the network side behind it (a user-space IP forwarder, or a TUN device).

- `hdlc`: the HDLC-like framing (flags, escaping under an ACCM, FCS-16);
- `cp`: the option negotiation automaton shared by LCP and IPCP;
- `lcp`, `ipcp`, `auth`: the options and PAP / CHAP, either side of the link;
- `link`: one end of a link through its phases (`role="network"`: the modem, `"device"`: a client);
- `ip`, `forwarder`: IPv4 / ICMP / UDP / TCP and the forwarder to host sockets;
- `tun`, `netns`: the TUN device in a network namespace (as root), the device a real IP host there;
- `bearer`: the modem's side (commands, suspension, the PDP context, byte counting).
"""
