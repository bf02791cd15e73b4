"""The bench's view of a `virtual://` modem: bound to its own operator network
(`modem.virtual.bound`), with a far end that answers calls."""

from __future__ import annotations

from modem.virtual.bound import RecordList, VirtualBinding, inner_transport, open_bound_virtual

__all__ = ["VIRTUAL_FAR_END", "RecordList", "VirtualBinding", "inner_transport", "open_bound_virtual"]

# The far end a virtual bench calls when no number is given: a French mobile number that answers.
VIRTUAL_FAR_END = "+33600000001"
