"""The outbox on its own: order, durability across reopen, bounds that never drop alerts."""

from __future__ import annotations

import apsw

from edge.link.outbox import Outbox


def test_rows_come_back_in_order_and_survive_reopening(tmp_path):
    box = Outbox(tmp_path / "o.db")
    seqs = [box.put("t/alert", f"m{i}".encode(), msg_id=f"m{i}") for i in range(10)]
    box.ack(seqs[:3])
    box.close()
    box = Outbox(tmp_path / "o.db")  # after a restart
    assert [r.payload for r in box.pending()] == [f"m{i}".encode() for i in range(3, 10)]
    assert box.depth() == 7 and box.bytes == sum(len(f"m{i}") for i in range(3, 10))
    assert [r.seq for r in box.pending(after=seqs[5], limit=2)] == seqs[6:8]
    db = apsw.Connection(str(tmp_path / "o.db"))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_bounds_drop_stats_first_and_never_alerts(tmp_path):
    box = Outbox(tmp_path / "o.db", max_messages=5)
    box.put("t/stats", b"s0", kind="stats")
    for i in range(3):
        box.put("t/alert", f"a{i}".encode(), kind="alert")
    box.put("t/stats", b"s1", kind="stats")
    box.put("t/stats", b"s2", kind="stats")  # 6 rows: the oldest stats goes
    assert [r.payload for r in box.pending()] == [b"a0", b"a1", b"a2", b"s1", b"s2"] and box.dropped == 1
    for i in range(3, 8):
        box.put("t/alert", f"a{i}".encode(), kind="alert")  # only alerts left to drop: none is dropped
    kinds = [r.kind for r in box.pending()]
    assert kinds.count("alert") == 8 and kinds.count("stats") == 0
    assert box.over_limit and box.depth() == 8


def test_a_refused_message_is_set_aside(tmp_path):
    box = Outbox(tmp_path / "o.db")
    seq = box.put("t/alert", b"x")
    box.bury(seq, "Not authorized")
    assert box.depth() == 0 and box.dead_count() == 1 and box.pending() == []


def test_acks_out_of_order_with_gaps_and_repeats_keep_the_counts_true(tmp_path):
    """PUBACKs come nearly in order, and a stats row may have been dropped while in flight: the
    outbox deletes exactly the acknowledged rows and its depth and bytes stay those of the table."""
    box = Outbox(tmp_path / "o.db", max_messages=8)
    seqs = [box.put("t/alert", f"message-{i}".encode(), kind="stats" if i == 4 else "alert") for i in range(8)]
    box.put("t/alert", b"one more")  # 9 rows: the stats row (seqs[4]) is dropped
    box.ack([seqs[2], seqs[0], seqs[1], seqs[4], seqs[6], seqs[6]])  # 4 was dropped, 6 twice
    box.ack([seqs[0]])  # again, after a reconnect: nothing left to delete
    left = [r.seq for r in box.pending()]
    assert left == [seqs[3], seqs[5], seqs[7], seqs[-1] + 1]
    db = apsw.Connection(str(tmp_path / "o.db"))
    assert (box.depth(), box.bytes) == db.execute(
        "SELECT count(*), sum(length(payload)) FROM outbox").fetchone() == (4, 3 * 9 + 8)
