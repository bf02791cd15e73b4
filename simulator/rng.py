"""Random streams: one per device and purpose, derived from the run's seed and the device's id.

A device's draws depend only on (run seed, device id, purpose), never on which
shard or worker simulates it, nor on the other devices: the outputs are the same
whatever the sharding.  The id is hashed with BLAKE2b (stable across processes
and Python versions, unlike `hash()`), and the words feed a numpy SeedSequence
(`gateway.scans.line_rng`: the gateway draws a line's scans from its stream too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.random.bit_generator import ISeedSequence

from gateway.api import SCANS, id_words, line_rng

# Purposes: separate streams, so that adding SMS to a group does not move its data traffic.
TRAFFIC = 1
EVENTS = 2
SETUP = 3
RETRY = 4
# SCANS = 5: the scans of a public APN's sessions (`gateway.scans`), drawn alike by the gateway

__all__ = ["EVENTS", "RETRY", "SCANS", "SETUP", "TRAFFIC", "device_rng", "device_rngs", "id_words"]


def device_rng(seed: int, device_id: str, purpose: int) -> np.random.Generator:
    """The generator of `device_id` for `purpose` in a run seeded with `seed`."""
    return line_rng(seed, device_id, purpose)


# numpy's SeedSequence (O'Neill's seed_seq_fe, pool of 4 words), its constants
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_M32 = 0xFFFFFFFF


class _Seeded(ISeedSequence):
    """The words a `np.random.SeedSequence` would hand a PCG64, made beforehand (`device_rngs`)."""

    __slots__ = ("words",)

    def __init__(self, words: npt.NDArray[np.uint64]) -> None:
        self.words = words

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> npt.NDArray[Any]:
        if n_words != 4 or np.dtype(dtype) != np.uint64:  # (only PCG64's request is made beforehand)
            raise ValueError(f"made for PCG64's 4 words of 64 bits, asked {n_words} of {np.dtype(dtype)}")
        return self.words


def _pcg64_words(entropy: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint64]:
    """`SeedSequence(entropy[:, j]).generate_state(4, np.uint64)` of every column j at once (at least
    4 words of entropy each): the same mixing, each step on a whole row of 32-bit words."""
    hash_const = _INIT_A

    def hashmix(value: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
        nonlocal hash_const
        value = value ^ np.uint32(hash_const)
        hash_const = (hash_const * _MULT_A) & _M32
        value = value * np.uint32(hash_const)
        return value ^ (value >> np.uint32(16))

    def mix(x: npt.NDArray[np.uint32], y: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
        result: npt.NDArray[np.uint32] = np.uint32(_MIX_MULT_L) * x - np.uint32(_MIX_MULT_R) * y
        return result ^ (result >> np.uint32(16))

    with np.errstate(over="ignore"):  # (arithmetic modulo 2^32, as SeedSequence's)
        pool = [hashmix(entropy[i]) for i in range(4)]
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    pool[dst] = mix(pool[dst], hashmix(pool[src]))
        for src in range(4, entropy.shape[0]):
            for dst in range(4):
                pool[dst] = mix(pool[dst], hashmix(entropy[src]))
        hash_const = _INIT_B
        out = np.empty((entropy.shape[1], 8), dtype="<u4")
        for i in range(8):
            value = pool[i % 4] ^ np.uint32(hash_const)
            hash_const = (hash_const * _MULT_B) & _M32
            value = value * np.uint32(hash_const)
            out[:, i] = value ^ (value >> np.uint32(16))
    return out.view("<u8").astype(np.uint64)


def device_rngs(seed: int, device_ids: Sequence[str], purpose: int) -> list[np.random.Generator]:
    """`device_rng(seed, id, purpose)` of each of `device_ids`, the same streams: their seed
    sequences' mixing made for all at once (a SeedSequence made one by one cost 20-30 us a device,
    most of a shard's set-up)."""
    hi, lo = divmod(seed, 2**32)
    entropy = np.empty((5, len(device_ids)), dtype=np.uint32)
    entropy[0], entropy[1], entropy[4] = lo, hi % 2**32, purpose
    if device_ids:
        entropy[2:4] = np.array([id_words(d) for d in device_ids], dtype=np.uint32).T
    words = _pcg64_words(entropy)
    # (PCG64 takes any ISeedSequence; numpy's stubs name SeedSequence alone)
    return [np.random.Generator(np.random.PCG64(_Seeded(w))) for w in words]  # type: ignore[arg-type]
