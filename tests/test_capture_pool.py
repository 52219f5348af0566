"""The reader recycles its output row buffers between windows only when nothing
references them: chunks a caller keeps must never change, and a streaming caller
must see exactly the rows of a one-shot read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import DATA

from secaudit.capture import iter_chunks, read_packets

CAP = DATA / "capture"
FILES = [
    "ipv6.pcap",
    "vxlan.pcap",
    "gtp1_gn_normal_incl_fragmentation.pcap",
    "http-on-irc-port-missing-syn.pcapng",
]


def _cols(a: np.ndarray) -> list[str]:
    # offsets into the chunk's data and tunnel table are chunk-relative
    return [n for n in a.dtype.names or () if n not in ("data_off", "tunnel_id")]


@pytest.mark.parametrize("name", FILES)
def test_kept_chunks_stay_intact(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    import secaudit.capture.reader as reader

    monkeypatch.setattr(reader, "WINDOW", 4000)  # many windows, so buffers get recycled
    whole = read_packets(CAP / name).packets
    kept, copies = [], []
    for i, chunk in enumerate(iter_chunks(CAP / name, chunk_packets=5)):
        copies.append(chunk.packets.copy())
        if i % 2 == 0:
            kept.append(chunk.packets)  # a field view or slice would pin the buffer too
        del chunk
    assert len(copies) > 2
    got = np.concatenate(copies)
    assert np.array_equal(got[_cols(got)], whole[_cols(whole)])
    for i, p in enumerate(kept):  # later windows did not overwrite what a caller keeps
        assert np.array_equal(p, copies[2 * i])


def test_recycled_rows_start_clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a VXLAN capture leaves tunnel fields set in the recycled rows; plain IPv4
    # packets read next into the same buffer must not inherit them
    import secaudit.capture.reader as reader

    monkeypatch.setattr(reader, "WINDOW", 4000)
    expect = [read_packets(CAP / n).packets for n in ("vxlan.pcap", "ipv4.pcap")]
    got = [[], []]  # type: list[list[np.ndarray]]
    for chunk in iter_chunks([CAP / "vxlan.pcap", CAP / "ipv4.pcap"], chunk_packets=3):
        got[0 if chunk.source.endswith("vxlan.pcap") else 1].append(chunk.packets.copy())
        del chunk
    for want, parts in zip(expect, got, strict=True):
        rows = np.concatenate(parts)
        assert np.array_equal(rows[_cols(rows)], want[_cols(want)])
