"""The late-copy memory of stopped sessions (`SessionTracker.stopped`) over seeded random captures: the
time kept of its queue's first entry (`stopped_first_at`, which lets a request with nothing due skip the
queue) is that entry's whenever it is read, whatever removed or replaced entries before it (an id opened
again, the cap of `--late-copies`, the compaction of entries left behind, two keys with one digest)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from handmade_pcap import SECRET, acct, attr, ethernet, ipv4, request, response, u32, udp, write_pcap

import gateway.acct_sessions
from gateway.acct_sessions import _NONE, _STOPPED, SessionTracker
from gateway.capture import ReadReport, records_from_pcap

T0 = 1_772_360_000
GGSN, AAA = "192.0.2.1", "192.0.2.10"
STEPS = (1, 5, 60, 600, 1_000, 3_601, 4_000, 20_000, 86_399, 86_400, 86_401, 90_000)


def random_capture(path: Path, seed: int) -> Path:
    """Starts, Stops, Accounting-Ons and copies of stopped sessions' Starts re-sent as they were, of a few
    ids, at steps around the hour and the day."""
    rnd = random.Random(seed)
    t, msgs, open_, stopped = 0, [], {}, []
    ids = [f"sess-{i}" for i in range(rnd.choice((2, 3, 5, 8)))]
    for _ in range(rnd.randint(20, 120)):
        t += rnd.choice(STEPS)
        r, sid = rnd.random(), rnd.choice(ids)
        if r < 0.05:
            msgs.append((t, attr(40, u32(7)) + attr(4, bytes((192, 0, 2, 1))) + attr(55, u32(T0 + t))))
            open_.clear()
        elif r < 0.45 and sid not in open_:
            open_[sid] = t
            msgs.append((t, acct(1, sid, event=T0 + t)))
        elif 0.45 <= r < 0.75 and sid in open_:
            st = t - open_.pop(sid)
            msgs.append((t, acct(2, sid, event=T0 + t, st=st, octets=(st * 3, st * 5), terminate=1)))
            stopped.append((sid, t - st))
        elif r >= 0.75 and stopped:
            sid, start = rnd.choice(stopped)
            msgs.append((t, acct(1, sid, event=T0 + start)))
    frames = []
    for n, (at, msg) in enumerate(msgs):
        req = request(n % 256, msg)
        frames.append(((T0 + at) * 1_000_000, ethernet(ipv4(GGSN, AAA, udp(32_768, 1813, req)))))
        answer = ethernet(ipv4(AAA, GGSN, udp(1813, 32_768, response(req))))
        frames.append(((T0 + at) * 1_000_000 + 1_000, answer))
    return write_pcap(path, 1, frames)


def first_entry_time(tracker: SessionTracker) -> int | None:
    """The `stopped_at` of the first entry of the queue still kept (those before it left behind), else None."""
    for key, packed in zip(tracker.stopped_keys, tracker.stopped_entries, strict=True):
        if tracker.stopped.get(key) is packed:
            return int(_STOPPED.unpack(packed)[1]) if isinstance(packed, bytes) else int(packed[1] or 0)
    return None


def test_the_first_entrys_time_kept_is_the_first_entrys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_closed, remember_stopped = SessionTracker._forget_closed, SessionTracker._remember_stopped
    checked = []

    def check(tracker: SessionTracker) -> None:
        kept = tracker.stopped_first_at
        if kept != _NONE:  # (a time kept: the first entry is kept, and it is its)
            assert (
                tracker.stopped_keys
                and tracker.stopped.get(tracker.stopped_keys[0]) is tracker.stopped_entries[0]
            )
            assert kept == first_entry_time(tracker)
            checked.append(kept)

    def forgetting(tracker: SessionTracker, now_s: int) -> None:
        check(tracker)
        forget_closed(tracker, now_s)
        check(tracker)

    def remembering(tracker: SessionTracker, *args: Any) -> None:
        remember_stopped(tracker, *args)
        check(tracker)

    monkeypatch.setattr(SessionTracker, "_forget_closed", forgetting)
    monkeypatch.setattr(SessionTracker, "_remember_stopped", remembering)
    digest = gateway.acct_sessions._stopped_key
    runs = ((False, 1024, 1000), (True, 1024, 1000), (True, 0, 2), (False, 0, 0), (True, 1024, 1))
    for seed in range(40):
        path = random_capture(tmp_path / f"{seed}.pcap", seed)
        for collide, stale_kept, late_copies in runs:
            monkeypatch.setattr(gateway.acct_sessions, "_STALE_KEPT", stale_kept)
            monkeypatch.setattr(
                gateway.acct_sessions, "_stopped_key", (lambda key: digest(key) % 2) if collide else digest
            )
            list(records_from_pcap(path, SECRET, ReadReport(), late_copies=late_copies))
    assert len(checked) > 100  # (the time kept was read, not only voided)
