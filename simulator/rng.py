"""Random streams: one per device and purpose, derived from the run's seed and the device's id.

A device's draws depend only on (run seed, device id, purpose), never on which
shard or worker simulates it, nor on the other devices: the outputs are the same
whatever the sharding.  The id is hashed with BLAKE2b (stable across processes
and Python versions, unlike `hash()`), and the words feed a numpy SeedSequence.
"""

from __future__ import annotations

import hashlib

import numpy as np

# Purposes: separate streams, so that adding SMS to a group does not move its data traffic.
TRAFFIC = 1
EVENTS = 2
SETUP = 3
RETRY = 4


def id_words(device_id: str) -> tuple[int, int]:
    """Two 32-bit words of BLAKE2b(device_id): the id's part of the seed."""
    digest = hashlib.blake2b(device_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")


def device_rng(seed: int, device_id: str, purpose: int) -> np.random.Generator:
    """The generator of `device_id` for `purpose` in a run seeded with `seed`."""
    hi, lo = divmod(seed, 2**32)
    w0, w1 = id_words(device_id)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([lo, hi % 2**32, w0, w1, purpose])))
