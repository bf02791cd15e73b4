"""A capture written by `PcapCapture` appears whole under its name: it is written under the project's
temporary name and renamed at `close`; a failure or a crash never leaves a part capture there."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from netparts import EPOCH
from scapy.utils import rdpcap

from gateway.capture import PcapCapture
from gateway.events import ContextInfo
from m2msim.outputs import stale_pattern
from tests.gateway.test_capture_packets import make_ctx


def _session(capture: PcapCapture, ctx: ContextInfo) -> None:
    capture.pdp_create(1.0, ctx, 128)
    capture.acct_start(1.1, ctx)


def _beside(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_the_capture_appears_whole_at_close(tmp_path: Path) -> None:
    path = tmp_path / "gw.pcap"
    with PcapCapture(path, EPOCH) as capture:
        _session(capture, make_ctx())
        capture.pdp_delete(2.0, make_ctx())
        assert not path.exists()  # nothing under the final name while it is written
        assert stale_pattern(path).fullmatch(capture.writing_path.name)
        assert capture.writing_path.parent == tmp_path
    assert len(rdpcap(str(path))) == 6
    assert _beside(path) == ["gw.pcap"]


def test_a_capture_left_by_an_error_is_removed_and_the_old_one_kept(tmp_path: Path) -> None:
    path = tmp_path / "gw.pcap"
    with PcapCapture(path, EPOCH) as capture:
        _session(capture, make_ctx())
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="the network failed"), PcapCapture(path, EPOCH) as capture:
        _session(capture, make_ctx(charging_id=7))
        raise RuntimeError("the network failed")
    assert path.read_bytes() == before and _beside(path) == ["gw.pcap"]
    failed = PcapCapture(tmp_path / "other.pcap", EPOCH)
    _session(failed, make_ctx())
    failed.abort()
    assert _beside(path) == ["gw.pcap"]


def _crash(path: str) -> None:
    """A process that dies with its capture open (no clean-up runs, as under SIGKILL)."""
    capture = PcapCapture(path, EPOCH, buffer_size=0, reorder_horizon_s=0, reorder_limit=1)
    _session(capture, make_ctx())
    os._exit(0)


def test_a_crash_leaves_no_part_capture_under_the_final_name(tmp_path: Path) -> None:
    path = tmp_path / "gw.pcap"
    crashed = multiprocessing.get_context("spawn").Process(target=_crash, args=(str(path),))
    crashed.start()
    crashed.join(60)
    assert crashed.exitcode == 0
    assert not path.exists()
    left = [p for p in tmp_path.iterdir() if stale_pattern(path).fullmatch(p.name)]
    assert len(left) == 1 and left[0].stat().st_size > 100  # its part, under the temporary name
    with PcapCapture(path, EPOCH):  # the next capture to the same path removes it
        pass
    assert _beside(path) == ["gw.pcap"]


def test_in_place_is_readable_while_it_grows(tmp_path: Path) -> None:
    """`in_place`: the file at `path` is the capture as it goes (a caller's own temporary name, or a
    run folder swapped in whole)."""
    path = tmp_path / "live.pcap"
    with PcapCapture(
        path, EPOCH, in_place=True, buffer_size=0, reorder_horizon_s=0, reorder_limit=1
    ) as capture:
        _session(capture, make_ctx())
        assert capture.writing_path == path and len(rdpcap(str(path))) >= 3
    assert _beside(path) == ["live.pcap"]


def test_sync_puts_the_packets_past_the_reorder_window_on_the_file(tmp_path: Path) -> None:
    """`modem serve` syncs its capture every second, so that a serve killed leaves its packets (they
    waited in the buffer and the reorder window until the end): those older than the window."""
    path = tmp_path / "gw.pcap"
    capture = PcapCapture(path, EPOCH, reorder_horizon_s=5.0, in_place=True)
    _session(capture, make_ctx())  # at 1.0 and 1.1 s (with their responses)
    capture.pdp_delete(10.0, make_ctx())
    capture.sync()
    assert len(rdpcap(str(path))) == 4  # the Delete exchange, at 10 s, still in the window
    capture.close()
    assert len(rdpcap(str(path))) == 6
