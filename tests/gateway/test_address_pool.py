"""APN address pools: fixed addresses per line when free, dynamic ones otherwise, never one twice."""

from __future__ import annotations

from ipaddress import IPv4Network

from hypothesis import given
from hypothesis import strategies as st

from gateway.apn import AddressPool, fixed_host

POOL = IPv4Network("10.0.0.0/29")  # six hosts: .1 to .6


def test_a_line_gets_its_fixed_address_when_free_else_a_dynamic_one() -> None:
    pool = AddressPool(POOL)
    assert pool.allocate(3) == fixed_host(POOL, 3) == "10.0.0.4"
    assert pool.allocate(9) == "10.0.0.1"  # its fixed host is taken: the first dynamic one
    assert pool.allocate() == "10.0.0.2"
    pool.release("10.0.0.4")
    assert pool.allocate(3) == "10.0.0.4"  # back to its own once freed


@given(st.lists(st.one_of(st.none(), st.integers(0, 20), st.sampled_from(["release"])), max_size=60))
def test_no_address_is_handed_out_twice_and_exhaustion_is_exact(ops: list[int | str | None]) -> None:
    pool = AddressPool(POOL)
    held: list[str] = []
    for op in ops:
        if op == "release":
            if held:
                pool.release(held.pop(0))
            continue
        prefer = op if isinstance(op, int) else None
        got = pool.allocate(prefer)
        if len(held) == pool.capacity:
            assert got is None
            continue
        assert got is not None and got not in held and got.startswith("10.0.0.")
        if prefer is not None and fixed_host(POOL, prefer) not in held:
            assert got == fixed_host(POOL, prefer)
        held.append(got)
        assert pool.in_use == len(held)
