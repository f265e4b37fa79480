"""The inference log and the audit answer through the services, on SQLite and PostgreSQL:
predictions in (in-process batches, JSONL and Parquet files), feedback
later, and `audit prediction` tying a request to its version, data and promotion."""

import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from modelledger.core.canonical import canonical_json, digest
from modelledger.core.errors import ImmutableRecord, InvalidInput, NotFound
from modelledger.ledger.home import open_ledger
from modelledger.models import systems
from modelledger.predictions.audit import audit_prediction
from modelledger.predictions.feedback import import_feedback
from modelledger.predictions.importer import import_file
from modelledger.predictions.ingest import log_predictions
from modelledger.predictions.json_text import canonical_text
from modelledger.predictions.records import new_request_id
from modelledger.predictions.store import reads
from modelledger.releases import environments as envs
from modelledger.settings import Settings
from tests.conftest import write
from tests.people import promote_approved
from tests.predictions.conftest import count, events_of, rec

ROOT = Path(__file__).resolve().parents[2]


def test_served_and_shadow_answers_audit_to_version_data_and_promotion(ledger, live):
    v1, v2 = live["v1"], live["v2"]
    features = {"amount": 12.5, "country": "de", "age": 33, "new_user": True}
    report = log_predictions(
        ledger,
        [
            rec(v1, request_id="req-1", features=features, confidence=0.93, latency_ms=4.2),
            rec(v2, request_id="req-1", mode="shadow", output={"label": 0}, features=features),
            rec(v1, request_id="req-2", arm="primary"),
        ],
        "production",
    )
    assert (report.count, report.served, report.shadow) == (3, 2, 1)
    assert len(report.segments) == 1
    # one event for the batch, never one per prediction
    imported = events_of(ledger, "predictions.imported")
    assert len(imported) == 1 and imported[0]["count"] == 3
    assert imported[0]["segments"] == list(report.segments)

    found = audit_prediction(ledger, "req-1")
    assert found["served_at"] == report.first_served_at
    assert found["output"] == {"label": 1, "score": 0.93}
    assert (found["confidence"], found["latency_ms"]) == (0.93, 4.2)
    assert (found["mode"], found["role"], found["version_id"]) == ("served", "live", v1.id)
    assert found["input_sha256"] == digest({"x": 1})
    version = found["version"]
    assert version["label"] == "fraud@1"
    assert version["tuple"]["code"]["ref"].endswith(f"{1:040x}")
    assert version["tuple"]["params"] == {"depth": 1}
    assert version["tuple"]["lock_sha256"]
    [data] = version["data"]
    assert (data["id"], data["role"], data["name"]) == (live["train"].id, "train", "train")
    assert data["sources"][0]["name"] == "payments-2024"
    promo = found["promotion"]
    assert promo["approvers"] == ["bob"] and promo["requester"] == "alice"
    assert promo["reason"] == "weekly retrain"
    assert promo["event"] == live["promotion"]["event"]
    assert promo["policy_sha256"] == live["promotion"]["policy_sha256"]
    assert promo["gate"]["passed"] is True
    assert found["live"]["event"] == promo["event"]
    shadow = [a for a in found["answers"] if a["mode"] == "shadow"]
    assert shadow == [
        {
            "mode": "shadow",
            "role": "shadow",
            "arm": None,
            "version_id": v2.id,
            "label": "fraud@2",
            "system_id": None,
            "output": {"label": 0},
            "confidence": None,
            "latency_ms": None,
            "segment": report.segments[0],
        }
    ]
    assert found["segments"][0]["id"] == report.segments[0]
    assert audit_prediction(ledger, "req-2")["arm"] == "primary"


def test_one_shot_lookups_answer_the_same_without_the_engine(ledger, live, project):
    log_predictions(ledger, [rec(live["v1"], request_id="q", features={"f": 1})], "production")
    full = audit_prediction(ledger, "q")
    with open_ledger(Settings(home=project / ".mledger")) as fresh:
        assert audit_prediction(fresh, "q", one_shot=True) == full
        assert "db" not in fresh.__dict__  # answered by sqlite3 or psycopg alone
        with pytest.raises(NotFound):
            audit_prediction(fresh, "other", one_shot=True)


def test_input_hash_is_canonical_and_falls_back_to_features(ledger, live):
    v1 = live["v1"]
    log_predictions(
        ledger,
        [
            rec(v1, request_id="a", input={"b": 1.0, "a": [1, "x"]}),
            rec(v1, request_id="b", input={"a": [1, "x"], "b": 1}),
            {"request_id": "c", "version_id": v1.id, "output": 1, "features": {"f": 2.5}},
            {"request_id": "d", "version_id": v1.id, "output": 1, "input_sha256": "ab" * 32},
        ],
        "production",
    )
    got = {r: audit_prediction(ledger, r)["input_sha256"] for r in "abcd"}
    assert got["a"] == got["b"] == digest({"a": [1, "x"], "b": 1})
    assert got["c"] == digest({"f": 2.5})
    assert got["d"] == "ab" * 32


def test_segment_is_parquet_in_the_blob_store_with_typed_feature_columns(ledger, live, tmp_path):
    v1 = live["v1"]
    rows = [
        rec(v1, request_id=f"r{i}", features={"amount": i * 1.5, "n": i, "tag": f"t{i % 2}"})
        for i in range(10)
    ]
    rows[3]["features"]["late"] = {"nested": True}  # a feature only one record has
    rows[4]["features"]["n"] = 2.5  # integers widen to doubles
    report = log_predictions(ledger, rows, "production")
    [segment] = report.segments
    path = tmp_path / "segment.parquet"
    path.write_bytes(ledger.blobs.get(segment))
    con = duckdb.connect()
    described = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()}
    assert described["amount"] == "DOUBLE" and described["n"] == "DOUBLE"
    assert described["tag"] == "VARCHAR" and described["served_at"] == "TIMESTAMP WITH TIME ZONE"
    assert "late" in described
    got = con.execute(f"SELECT request_id, n FROM '{path}' ORDER BY request_id").fetchall()
    assert len(got) == 10 and got[4] == ("r4", 2.5)
    with ledger.db.read() as conn:
        [seg] = reads.segments(conn, "production")
    assert seg["row_count"] == 10 and seg["id"] == segment


def test_request_ids_and_served_at_are_filled_in(ledger, live):
    report = log_predictions(
        ledger, [rec(live["v1"]) for _ in range(50)] + [rec(live["v1"], served_at=0)], "production"
    )
    with ledger.db.read() as conn:
        rows = conn.execute(text("SELECT request_id, served_at FROM predictions")).all()
    ids = [r[0] for r in rows]
    assert len(set(ids)) == 51
    assert all(len(i) == 32 and i[12] == "7" for i in ids)  # UUIDv7, as hex
    assert {r[1] for r in rows} == {report.last_served_at, "1970-01-01T00:00:00.000000Z"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"version_id": "mv-" + "0" * 64}, "record 2: version_id mv-0000.* is not a registered"),
        ({"version_id": "fraud@1"}, "record 2: version_id 'fraud@1' is not a full"),
        ({"lable": 1}, "record 2: unknown field lable"),
        (
            {"output": None, "confidence": float("nan")},
            "record 2: confidence: must be a finite number",
        ),
        ({"mode": "canary"}, "record 2: mode 'canary'"),
        ({"served_at": "yesterday"}, "record 2: served_at: not an ISO-8601 time"),
        ({"request_id": "has space"}, "record 2: request_id 'has space'"),
        ({"env": "staging"}, "record 2: env 'staging' differs"),
        ({"features": {"request_id": 1}}, "record 2: features: request_id is a reserved"),
        ({"output": "\ud800"}, "record 2: invalid value: 'utf-8' codec can't encode"),
        ({"input": None, "features": {"f": "\ud800"}}, "record 2: not valid UTF-8 text"),
        ({"arm": "\udfff"}, "record 2: invalid value"),
    ],
)
def test_a_bad_record_refuses_the_batch_and_writes_nothing(ledger, live, bad, message):
    before = count(ledger, "events")
    record = rec(live["v1"])
    record.update(bad)
    with pytest.raises(InvalidInput, match=message):
        log_predictions(ledger, [rec(live["v1"]), record, rec(live["v1"])], "production")
    assert count(ledger) == 0 and count(ledger, "events") == before


def test_missing_output_and_input_are_named(ledger, live):
    with pytest.raises(InvalidInput, match="record 1: output is required"):
        log_predictions(ledger, [{"version_id": live["v1"].id, "input": 1}], "production")
    with pytest.raises(InvalidInput, match="record 1: give input, input_sha256 or features"):
        log_predictions(ledger, [{"version_id": live["v1"].id, "output": 1}], "production")


def test_a_request_logged_twice_is_refused_naming_it(ledger, live):
    log_predictions(ledger, [rec(live["v1"], request_id="dup")], "production")
    with pytest.raises(
        InvalidInput, match=r"record 2: request dup \(served by mv-.*already logged"
    ):
        log_predictions(
            ledger,
            [rec(live["v1"], request_id="fresh"), rec(live["v1"], request_id="dup")],
            "production",
        )
    assert count(ledger) == 1
    with pytest.raises(InvalidInput, match="record 2: request twice is served twice"):
        log_predictions(
            ledger,
            [rec(live["v1"], request_id="twice"), rec(live["v2"], request_id="twice")],
            "production",
        )


def test_unknown_environment_and_request(ledger, live):
    with pytest.raises(NotFound, match="no environment named 'prodution'"):
        log_predictions(ledger, [rec(live["v1"])], "prodution")
    with pytest.raises(NotFound, match="no prediction with request id 'nope'"):
        audit_prediction(ledger, "nope")


def test_skip_invalid_keeps_the_good_records(ledger, live):
    report = log_predictions(
        ledger,
        [rec(live["v1"]), {"version_id": live["v1"].id}, rec(live["v1"])],
        "production",
        skip_invalid=True,
    )
    assert report.count == 2 and report.rejected_count == 1
    assert report.rejected[0].position == 2


def test_canary_answers_show_the_pinned_promotion_and_their_own_role(ledger, live):
    log_predictions(ledger, [rec(live["v2"], request_id="c1", arm="canary-1")], "production")
    found = audit_prediction(ledger, "c1")
    assert (found["role"], found["arm"], found["label"]) == ("canary", "canary-1", "fraud@2")
    assert found["promotion"] is None  # fraud@2 was never promoted here
    assert found["live"]["id"] == live["v1"].id and found["live"]["approvers"] == ["bob"]


def test_prediction_before_any_promotion_is_unpinned(ledger, live):
    log_predictions(
        ledger, [rec(live["v1"], request_id="old", served_at="2001-01-01T00:00:00Z")], "production"
    )
    found = audit_prediction(ledger, "old")
    assert found["role"] == "unpinned" and found["live"] is None and found["promotion"] is None


def test_system_answers_are_attributed_to_the_system(ledger, live):
    system, _ = systems.create(ledger, "rag", [f"generator={live['v1'].id}"])
    envs.create(ledger, "assistant")
    promote_approved(ledger, system.id, "assistant")
    log_predictions(
        ledger,
        [rec(live["v1"], request_id="s1", system_id=system.id)],
        "assistant",
    )
    found = audit_prediction(ledger, "s1")
    assert found["role"] == "live"
    assert found["system"]["components"] == {"generator": live["v1"].id}
    assert found["promotion"]["id"] == system.id
    with pytest.raises(InvalidInput, match=r"system_id sys-0+ is not a registered system"):
        log_predictions(ledger, [rec(live["v1"], system_id="sys-" + "0" * 64)], "assistant")


def test_import_jsonl_and_parquet(ledger, live, project):
    lines = [json.dumps(rec(live["v1"], request_id=f"j{i}", features={"f": i})) for i in range(5)]
    path = write(project / "preds.jsonl", "\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]))
    report = import_file(ledger, path, "production")
    assert report.count == 5 and report.source == str(path)
    [event] = events_of(ledger, "predictions.imported")
    assert event["file"] == "preds.jsonl" and len(event["file_sha256"]) == 64

    source = write(
        project / "more.jsonl",
        "".join(
            json.dumps(rec(live["v1"], request_id=f"p{i}", served_at="2030-01-01T00:00:00Z")) + "\n"
            for i in range(4)
        ),
    )
    parquet = project / "more.parquet"
    duckdb.connect().execute(f"COPY (SELECT * FROM '{source}') TO '{parquet}' (FORMAT parquet)")
    report = import_file(ledger, parquet, "production")
    assert report.count == 4
    found = audit_prediction(ledger, "p2")
    assert found["served_at"] == "2030-01-01T00:00:00.000000Z"
    assert found["output"] == {"label": 1, "score": 0.93}


def test_a_malformed_line_is_named_and_nothing_is_imported(ledger, live, project):
    good = json.dumps(rec(live["v1"]))
    path = write(project / "bad.jsonl", f"{good}\n{good}\n{{not json\n{good}\n[1]\n")
    with pytest.raises(InvalidInput) as caught:
        import_file(ledger, path, "production")
    message = str(caught.value)
    assert message.startswith("bad.jsonl line 3: malformed JSON")
    assert "1 more bad record(s): bad.jsonl line 5" in message
    assert "nothing was imported" in message
    assert count(ledger) == 0


def test_large_imports_write_one_segment_per_chunk_in_one_transaction(ledger, live, project):
    lines = [json.dumps(rec(live["v1"], request_id=f"k{i}", features={"f": i})) for i in range(25)]
    path = write(project / "big.jsonl", "\n".join(lines) + "\n")
    report = import_file(ledger, path, "production", chunk_size=10)
    assert report.count == 25 and len(report.segments) == 3
    assert len(events_of(ledger, "predictions.imported")) == 1
    # a failure in the last chunk leaves nothing of the first two
    bad = write(project / "bad.jsonl", "\n".join(lines).replace('"k', '"m') + "\n{}\n")
    with pytest.raises(InvalidInput, match=r"bad\.jsonl line 26"):
        import_file(ledger, bad, "production", chunk_size=10)
    assert count(ledger) == 25 and count(ledger, "prediction_segments") == 3


def test_feedback_for_unknown_requests_is_reported_not_fatal(ledger, live, project):
    log_predictions(ledger, [rec(live["v1"], request_id=f"f{i}") for i in range(3)], "production")
    path = write(
        project / "feedback.jsonl",
        "\n".join(
            [
                json.dumps({"request_id": "f0", "label": 1}),
                json.dumps({"request_id": "ghost", "was_correct": True}),
                json.dumps({"request_id": "f1", "was_correct": False, "failure_cluster": "ocr"}),
                json.dumps({"request_id": "ghost-2", "label": 0}),
            ]
        )
        + "\n",
    )
    report = import_feedback(ledger, path)
    assert report.recorded == 2 and report.unknown_count == 2
    assert list(report.unknown) == [(2, "ghost"), (4, "ghost-2")]
    [event] = events_of(ledger, "feedback.imported")
    assert event["count"] == 2 and event["unknown"] == 2
    found = audit_prediction(ledger, "f1")
    assert found["feedback"][0]["was_correct"] is False
    assert found["feedback"][0]["failure_cluster"] == "ocr"
    assert audit_prediction(ledger, "f0")["feedback"][0]["label"] == 1
    again = import_feedback(ledger, path)  # the same file twice records it once
    assert (again.recorded, again.repeated, again.unknown_count) == (0, 2, 2)
    assert len(audit_prediction(ledger, "f1")["feedback"]) == 1


def test_malformed_feedback_is_named_and_nothing_is_recorded(ledger, live, project):
    log_predictions(ledger, [rec(live["v1"], request_id="f0")], "production")
    path = write(
        project / "feedback.jsonl",
        json.dumps({"request_id": "f0", "label": 1}) + "\n{oops\n" + '{"request_id": "f0"}\n',
    )
    with pytest.raises(InvalidInput) as caught:
        import_feedback(ledger, path)
    assert str(caught.value).startswith("feedback.jsonl line 2: malformed JSON")
    assert "feedback.jsonl line 3" in str(caught.value)
    assert count(ledger, "feedback") == 0


@pytest.mark.parametrize("table", ["predictions", "feedback", "prediction_segments"])
def test_logged_rows_are_immutable(ledger, live, project, table):
    log_predictions(ledger, [rec(live["v1"], request_id="i", features={"f": 1})], "production")
    import_feedback(ledger, write(project / "f.jsonl", '{"request_id": "i", "label": 1}\n'))
    column = "source" if table == "feedback" else "env"
    for statement in (f"UPDATE {table} SET {column} = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(ImmutableRecord), ledger.db.write() as conn:
            conn.execute(text(statement))
    assert count(ledger, table) == 1


def test_request_ids_are_uuid7_and_time_ordered():
    a, b = new_request_id(1_000, 5), new_request_id(1_001, 2**74 - 1)
    assert a < b and len(a) == 32 and a[12] == "7" and a[16] in "89ab"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_text_is_canonical_json(value):
    assert canonical_text(value).encode("utf-8") == canonical_json(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_feature_hashes_match_canonical_json(features):
    from modelledger.predictions.batch import BatchBuilder
    from modelledger.predictions.records import RequestIds

    if set(features) & {"request_id", "mode", "version_id", "served_at"}:
        return
    builder = BatchBuilder("e", "2030-01-01T00:00:00.000000Z", RequestIds(1, 1), lambda _: True)
    record = {"version_id": "mv-" + "0" * 64, "output": 1, "features": features}
    builder.add(record, 1)
    builder.add(dict(record), 2)  # the second one takes the known-shape path
    assert builder.error_count == 0
    assert {row[7] for row in builder.batch.rows} == {digest(features)}
