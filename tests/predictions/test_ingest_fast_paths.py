"""The ingest's fast paths give what the plain ones would: orjson's text of flat objects, rows
inserted and hashed as groups of shared values, on SQLite and PostgreSQL."""

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from modelledger.core.canonical import canonical_json
from modelledger.ledger.row_check import log_batches
from modelledger.predictions.batch import BatchBuilder
from modelledger.predictions.ingest import log_predictions
from modelledger.predictions.json_text import compact_json, flat_json
from modelledger.predictions.records import RequestIds
from tests.predictions.conftest import events_of

# Where orjson and Python's repr part ways (below 1e-4, from 1e16), integral floats, zeros.
edge_floats = st.sampled_from(
    [0.0, -0.0, 1e-4, 9.99e-5, 1e-5, 1.5e-7, 1e-9, 1e-10, 2.0, -3.0, 1e15, 1e16, 1.5e17, 1e300]
)
floats = st.floats(allow_nan=False, allow_infinity=False) | edge_floats
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | floats
    | st.text(max_size=6)
)
flat_objects = st.dictionaries(st.text(max_size=6), scalars, max_size=6)


@settings(max_examples=400, deadline=None)
@given(flat_objects)
def test_flat_json_is_compact_json_or_declines(value):
    keys = tuple(k for k, v in value.items() if type(v) is float)
    try:
        plain = compact_json(value)
    except ValueError:
        plain = None
    fast = flat_json(value, keys, canonical=False)
    assert fast is None or fast == plain
    fast = flat_json(value, keys, canonical=True)
    assert fast is None or fast.encode("utf-8") == canonical_json(value)


@settings(max_examples=300, deadline=None)
@given(flat_objects, st.floats() | edge_floats)
def test_outputs_are_stored_as_compact_json(output, score):
    output = {**output, "score": score}
    builder = BatchBuilder("e", "2030-01-01T00:00:00.000000Z", RequestIds(1, 1), lambda _: True)
    for position in (1, 2):  # the second one takes the known-shape path
        builder.add({"version_id": "mv-" + "0" * 64, "output": output, "input": 1}, position)
    try:
        expected = compact_json(output)
    except ValueError:  # NaN or Infinity: refused, naming the field
        assert builder.error_count == 2 and "score" in builder.errors[0].message
        return
    assert builder.error_count == 0
    assert [row[8] for row in builder.batch.rows] == [expected, expected]


def test_mixed_batches_are_bound_as_audit_verify_recomputes_them(ledger, live):
    """Served and shadow answers, arms and request ids that need quoting, features on some
    records only, values orjson writes otherwise than repr, several chunks and statements: each
    batch's root is what verify reads back, and the rows hold what was logged."""
    v1, v2 = live["v1"], live["v2"]
    records = []
    for i in range(700):
        served = {
            "version_id": v1.id,
            "request_id": f"r'{i}" if i % 7 == 0 else f"r%s{i}",
            "output": {"label": "é\n\"'", "p": [1e-5, 2.0][i % 2], "n": None},
            "confidence": [0.5, 1e-7, 1e20, None][i % 4],
            "latency_ms": 3.25 if i % 3 else None,
            "arm": ["a", "%r", "o'neil", None][i % 4],
            "served_at": f"2030-01-01T00:00:0{i % 3}.000000Z",
        }
        if i % 2:
            served["features"] = {"x": i, "y": i / 7, "z": "q"}
        else:
            served["input"] = {"x": i}
        records.append(served)
        if i % 5 == 0:
            records.append({**served, "version_id": v2.id, "mode": "shadow", "output": i})
    # rows sharing everything but their own values, more than one statement's worth
    records += [{"version_id": v1.id, "output": i, "features": {"x": i}} for i in range(450)]
    report = log_predictions(ledger, records, "production", chunk_size=1000)
    assert report.count == len(records) and len(report.segments) == 2

    logged = events_of(ledger, "predictions.imported")[-1]["log"]
    with ledger.db.read() as conn:
        roots = log_batches(conn)
        stored = conn.execute(
            text(
                "SELECT output_json, arm, confidence, segment_id IS NOT NULL, event_seq "
                "FROM predictions WHERE request_id = 'r''21' AND mode = 'served'"
            )
        ).one()
    assert logged["rows"] == len(records)
    assert roots[stored[4]] == (bytes.fromhex(logged["root"]), logged["rows"])
    assert stored[:4] == ('{"label":"é\\n\\"\'","n":null,"p":2.0}', "%r", 1e-7, True)
