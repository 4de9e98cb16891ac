"""The outbox on its own: order, durability across reopen, bounds that never drop alerts."""

from __future__ import annotations

import time

import apsw

from edge.link.outbox import Outbox


def test_rows_come_back_in_order_and_survive_reopening(tmp_path):
    box = Outbox(tmp_path / "o.db", receipts=False)  # a hub without receipts: the PUBACK is the end
    seqs = [box.put("t/alert", f"m{i}".encode(), msg_id=f"m{i}") for i in range(10)]
    box.ack(seqs[:3])
    box.close()
    box = Outbox(tmp_path / "o.db", receipts=False)  # after a restart
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
    box = Outbox(tmp_path / "o.db", max_messages=8, receipts=False)
    seqs = [box.put("t/alert", f"message-{i}".encode(), kind="stats" if i == 4 else "alert") for i in range(8)]
    box.put("t/alert", b"one more")  # 9 rows: the stats row (seqs[4]) is dropped
    box.ack([seqs[2], seqs[0], seqs[1], seqs[4], seqs[6], seqs[6]])  # 4 was dropped, 6 twice
    box.ack([seqs[0]])  # again, after a reconnect: nothing left to delete
    left = [r.seq for r in box.pending()]
    assert left == [seqs[3], seqs[5], seqs[7], seqs[-1] + 1]
    db = apsw.Connection(str(tmp_path / "o.db"))
    assert (box.depth(), box.bytes) == db.execute(
        "SELECT count(*), sum(length(payload)) FROM outbox").fetchone() == (4, 3 * 9 + 8)


def test_a_lifecycle_message_stays_after_its_puback_until_the_hubs_receipt(tmp_path):
    box = Outbox(tmp_path / "o.db", receipt_timeout_s=10)
    alerts = [box.put("t/alert", f"a{i}".encode(), msg_id=f"v{i}:alert") for i in range(4)]
    result = box.put("t/cmd_result", b"r", kind="cmd_result", msg_id="c1")
    box.ack(alerts[:3] + [result])  # the broker has them
    assert box.depth() == 4 and box.awaiting() == 3 and box.unsent() == 1, "results go at PUBACK, alerts wait"
    assert box.due(upto_seq=result, now=time.time()) == [], "not overdue yet"
    overdue = box.due(upto_seq=result, now=time.time() + 11)
    assert [r.seq for r in overdue] == alerts[:3], "oldest first"
    box.close()
    box = Outbox(tmp_path / "o.db", receipt_timeout_s=10)  # a restart keeps both states
    assert box.awaiting() == 3 and box.depth() == 4
    assert box.receipt(["v0:alert", "v2:alert", "v9:alert"]) == 2, "a receipt for an unknown id is nothing"
    assert box.receipt(["v0:alert"]) == 0, "a repeated receipt is nothing"
    assert box.awaiting() == 1 and box.depth() == 2
    box.receipt(["v3:alert"])  # the receipt may come before the PUBACK is counted
    box.ack([alerts[3]])
    assert [r.msg_id for r in box.pending()] == ["v1:alert"] and box.awaiting() == 1
    db = apsw.Connection(str(tmp_path / "o.db"))
    assert (box.depth(), box.bytes) == db.execute(
        "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox").fetchone()


def test_sending_again_backs_off(tmp_path):
    box = Outbox(tmp_path / "o.db", receipt_timeout_s=10, receipt_max_s=35)
    seq = box.put("t/alert", b"a", msg_id="v:alert")
    waits = []
    for _ in range(4):
        box.ack([seq])
        sent_at = time.time()
        due = apsw.Connection(str(tmp_path / "o.db")).execute("SELECT due FROM outbox").fetchone()[0]
        waits.append(round(due - sent_at))
        box.resending([seq])
    assert waits == [10, 20, 35, 35] and box.resent == 4


def test_an_outbox_of_the_previous_version_gains_the_receipt_columns(tmp_path):
    db = apsw.Connection(str(tmp_path / "o.db"))
    db.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT "
               "NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, kind TEXT NOT NULL, msg_id TEXT, created REAL "
               "NOT NULL)")
    db.execute("INSERT INTO outbox (topic, payload, qos, retain, kind, msg_id, created) "
               "VALUES ('t', x'00', 1, 0, 'alert', 'v:alert', 0)")
    db.close()
    box = Outbox(tmp_path / "o.db")
    assert box.depth() == 1 and box.awaiting() == 0 and box.pending()[0].msg_id == "v:alert"
