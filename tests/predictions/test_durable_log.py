"""The serving journal and its drain into the ledger: durable before acknowledged, torn tails cut,
damage kept aside, dead processes' journals replayed exactly once, nothing lost while the ledger
refuses writes, one claim per request id."""

from __future__ import annotations

import os
import threading
import time

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from modelledger.predictions import journal_frames as jf
from modelledger.predictions.durable_log import DurableLog
from modelledger.predictions.journal import SUFFIX
from modelledger.predictions.store import reads
from tests.predictions.conftest import count, rec

ENV = "production"


# -- the byte format (pure) -------------------------------------------------------------------------
@given(st.lists(st.binary(max_size=300), max_size=30), st.integers(min_value=0, max_value=400))
def test_every_whole_frame_is_read_back_and_a_cut_anywhere_is_a_torn_tail(payloads, cut):
    data = jf.HEADER + jf.frames(payloads)
    whole = jf.scan(data)
    assert whole.payloads == payloads and whole.torn == 0 and not whole.damaged
    short = data[: max(0, len(data) - cut)]
    found = jf.scan(short)
    assert not found.damaged
    assert found.payloads == payloads[: len(found.payloads)]  # a prefix, in order
    assert found.end + found.torn == len(short)


@given(st.lists(st.binary(min_size=1, max_size=200), min_size=3, max_size=20), st.data())
def test_a_flipped_byte_in_the_middle_is_damage_not_a_torn_tail(payloads, data):
    body = bytearray(jf.HEADER + jf.frames(payloads))
    last = len(body) - len(jf.frame(payloads[-1]))  # somewhere before the last frame
    at = data.draw(st.integers(min_value=len(jf.HEADER), max_value=last - 1))
    body[at] ^= 0xFF
    found = jf.scan(bytes(body))
    assert found.damaged and found.torn == 0
    assert found.payloads == payloads[: len(found.payloads)]


def test_a_torn_header_is_an_empty_journal():
    assert jf.scan(jf.HEADER[:4]).payloads == [] and not jf.scan(jf.HEADER[:4]).damaged
    assert jf.scan(b"garbage!").damaged


# -- the journal and its drain ---------------------------------------------------------------------
def _logged(ledger, ids):
    with ledger.db.read() as conn:
        return reads.known_requests(conn, ids)


def test_many_threads_each_durable_and_all_in_the_ledger_after_close(ledger, live, tmp_path):
    log = DurableLog(ledger, ENV, directory=tmp_path / "j", max_batch=700)
    ids: list[str] = []
    lock = threading.Lock()

    def serve(worker: int) -> None:
        mine = []
        for i in range(500):
            r = rec(live["v1"], request_id=f"w{worker}-{i}", latency_ms=1.0)
            log.append([r]).result(timeout=10)  # durable when this returns
            mine.append(r["request_id"])
        with lock:
            ids.extend(mine)

    threads = [threading.Thread(target=serve, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.journal.fsyncs < 4000  # concurrent appends shared their syncs
    assert log.close(timeout=60)
    assert log.written == 4000 and log.rejected == 0
    assert _logged(ledger, ids) == set(ids)
    assert not list((tmp_path / "j" / ENV).glob(f"*{SUFFIX}"))  # drained: nothing left


def test_a_dead_process_journal_is_replayed_once_and_its_torn_tail_dropped(ledger, live, tmp_path):
    """What a kill -9 leaves: a locked-by-nobody segment with a torn last write."""
    folder = tmp_path / "j" / ENV
    folder.mkdir(parents=True)
    records = [rec(live["v1"], request_id=f"dead-{i}", served_at=1.7e9) for i in range(50)]
    data = jf.HEADER + jf.frames(orjson.dumps(r) for r in records)
    torn = jf.frame(orjson.dumps(rec(live["v1"], request_id="never-acked")))[:-3]
    (folder / f"00000000000000000001-999999{SUFFIX}").write_bytes(data + torn)
    log = DurableLog(ledger, ENV, directory=tmp_path / "j")
    assert log.replayed == 50
    # answered before the crash: claimed again before anything new is answered, so a power
    # cut that took the claims cannot let the id be answered twice
    assert log.claims.claim(["dead-7"]).result(timeout=10) == "dead-7"
    assert log.flush(timeout=30)
    assert _logged(ledger, [r["request_id"] for r in records]) == {r["request_id"] for r in records}
    assert _logged(ledger, ["never-acked"]) == set()
    assert log.close(timeout=30)
    assert count(ledger) == 50
    again = DurableLog(ledger, ENV, directory=tmp_path / "j")
    assert again.replayed == 0 and again.close(timeout=30)
    assert count(ledger) == 50


def test_a_replay_of_records_already_in_the_ledger_logs_each_once(ledger, live, tmp_path):
    folder = tmp_path / "j" / ENV
    folder.mkdir(parents=True)
    records = [rec(live["v1"], request_id=f"r-{i}", served_at=1.7e9) for i in range(20)]
    from modelledger.predictions.ingest import log_predictions

    log_predictions(ledger, records[:10], ENV)  # drained before the crash, not yet deleted
    (folder / f"1-1{SUFFIX}").write_bytes(jf.HEADER + jf.frames(orjson.dumps(r) for r in records))
    log = DurableLog(ledger, ENV, directory=tmp_path / "j")
    assert log.close(timeout=30)
    assert count(ledger) == 20


def test_a_damaged_journal_is_replayed_up_to_the_damage_and_kept_aside(ledger, live, tmp_path):
    folder = tmp_path / "j" / ENV
    folder.mkdir(parents=True)
    records = [rec(live["v1"], request_id=f"d-{i}", served_at=1.7e9) for i in range(10)]
    body = bytearray(jf.HEADER + jf.frames(orjson.dumps(r) for r in records))
    body[len(jf.HEADER) + len(jf.frame(orjson.dumps(records[0]))) + 9] ^= 0x01  # inside #2
    (folder / f"1-1{SUFFIX}").write_bytes(bytes(body))
    log = DurableLog(ledger, ENV, directory=tmp_path / "j")
    assert log.health()["damaged"] == [f"1-1{SUFFIX}"]
    assert log.close(timeout=30)
    assert count(ledger) == 1
    assert (folder / "1-1.damaged").exists()  # the rest is evidence, never deleted


def test_a_live_process_journal_is_not_replayed_by_another(ledger, live, tmp_path):
    first = DurableLog(ledger, ENV, directory=tmp_path / "j")
    second = DurableLog(ledger, ENV, directory=tmp_path / "j")
    first.append([rec(live["v1"], request_id="mine")]).result(timeout=10)
    assert second.replayed == 0
    assert first.close(timeout=30) and second.close(timeout=30)
    assert count(ledger) == 1


def test_the_ledger_refusing_writes_costs_a_backlog_never_a_record(ledger, live, tmp_path):
    log = DurableLog(ledger, ENV, directory=tmp_path / "j")
    down = threading.Event()
    down.set()
    import modelledger.predictions.drain as drain

    original = drain.log_predictions

    def refusing(*a, **kw):
        if down.is_set():
            raise RuntimeError("database is locked")
        return original(*a, **kw)

    drain.log_predictions = refusing
    try:
        for i in range(30):
            log.append([rec(live["v1"], request_id=f"b-{i}")]).result(timeout=10)
        log.drainer.nudge()
        deadline = time.monotonic() + 10
        while log.health()["last_error"] is None and time.monotonic() < deadline:
            time.sleep(0.02)
        health = log.health()
        assert health["degraded"] and health["backlog"] == 30
        assert "locked" in health["last_error"] and count(ledger) == 0
        down.clear()
        assert log.flush(timeout=30)
        assert not log.health()["degraded"] and count(ledger) == 30
    finally:
        drain.log_predictions = original
    assert log.close(timeout=30)


def test_a_full_disk_refuses_the_answer_rather_than_answering_unlogged(
    ledger, live, tmp_path, monkeypatch
):
    log = DurableLog(ledger, ENV, directory=tmp_path / "j")
    import modelledger.predictions.journal as journal

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "write_all", full)
    with pytest.raises(journal.JournalUnavailable, match="no space left"):
        log.append([rec(live["v1"], request_id="nope")]).result(timeout=10)
    monkeypatch.undo()
    log.append([rec(live["v1"], request_id="yes")]).result(timeout=10)
    assert log.close(timeout=30)
    assert _logged(ledger, ["nope", "yes"]) == {"yes"}


def test_one_claim_per_request_id_across_two_logs_and_none_for_logged_ids(ledger, live, tmp_path):
    # journals in different folders: the claims are the ledger's, not a journal's
    a = DurableLog(ledger, ENV, directory=tmp_path / "j1")
    b = DurableLog(ledger, ENV, directory=tmp_path / "j2")
    from modelledger.predictions.ingest import log_predictions

    log_predictions(ledger, [rec(live["v1"], request_id="imported")], ENV)
    futures = [(log.claims.claim([f"c-{i}"]), i) for i in range(100) for log in (a, b)]
    won: dict[int, int] = {}
    for fut, i in futures:
        if fut.result(timeout=10) is None:
            won[i] = won.get(i, 0) + 1
    assert won == {i: 1 for i in range(100)}
    assert a.claims.claim(["imported"]).result(timeout=10) == "imported"
    assert a.claims.claim(["fresh", "c-1"]).result(timeout=10) == "c-1"  # a batch: all or none
    assert b.claims.claim(["fresh"]).result(timeout=10) is None
    assert a.close(timeout=30) and b.close(timeout=30)


def test_the_journal_lives_under_the_ledger_home_by_default(ledger, live):
    log = DurableLog(ledger, ENV)
    assert log.directory == ledger.config.home / "journal" / ENV
    assert log.close(timeout=30)
    with ledger.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM predictions")).scalar() == 0
    assert os.path.isdir(log.directory)


def test_a_journal_folder_that_cannot_be_one_is_one_line(ledger, live, tmp_path):
    from modelledger.core.errors import InvalidInput

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InvalidInput, match="cannot keep the serving journal there"):
        DurableLog(ledger, ENV, directory=tmp_path / "a-file")


def test_a_journaled_record_that_is_not_json_is_left_out_not_a_stuck_drain(ledger, live, tmp_path):
    folder = tmp_path / "j" / ENV
    folder.mkdir(parents=True)
    good = [orjson.dumps(rec(live["v1"], request_id=f"g-{i}", served_at=1.7e9)) for i in range(3)]
    (folder / f"1-1{SUFFIX}").write_bytes(jf.HEADER + jf.frames([good[0], b"{not json", *good[1:]]))
    log = DurableLog(ledger, ENV, directory=tmp_path / "j")
    assert log.close(timeout=30)
    assert count(ledger) == 3 and log.rejected == 1
