"""The demo's incident: night 4's data loses a carrier and new routes slow down; the data diff,
drift on the protected slice, then the runbook as commands (open, contain by a rehearsed
rollback, assess, diagnose, recover by shadow and canary, prevent), the audit question and a
deletion request (S1, S5, S6, S9, S14, S15)."""

from __future__ import annotations

import json
import time

from modelledger.cli.demo import world
from modelledger.cli.demo.common import Story, expect, note, run, say, short
from modelledger.cli.demo.release import (
    APPROVER,
    NEW_SHARE,
    REQUESTER,
    ROWS,
    key_of,
    night_seed,
    partition,
    snapshot_night,
)

DRIFT_POLICY = "slices: {new_routes: {route: new}}\nslice_min: 0.8\n"
WITHOUT_DHL = tuple(c for c in world.CARRIERS if c != "dhl")


def _write_jsonl(story: Story, name: str, lines: list[dict[str, object]]) -> str:
    (story.base / name).write_text("".join(json.dumps(line) + "\n" for line in lines))
    return name


def night4(story: Story) -> None:
    from modelledger.ledger import events
    from modelledger.ledger.home import now

    say(
        "Night 4: an upstream ETL change drops every dhl shipment, and new routes have got "
        "slower. Before anything trains on it, diff tonight's partition against last night's."
    )
    tonight = world.shipments(
        night_seed(4), ROWS, carriers=WITHOUT_DHL, new_share=NEW_SHARE, slow=True
    )
    ds = snapshot_night(story, 4, tonight)
    run("data", "diff", short(story.snapshots[3]), short(ds),
        "--table", f"{partition(3)}/part.csv", "--table", f"{partition(4)}/part.csv")  # fmt: skip

    say(
        "Day 4's bookings (no dhl either) are scored by the batch job with the live version and "
        "logged; then the deliveries arrive as feedback."
    )
    live, model = story.versions["delay@3"], story.models["delay@3"]
    day4 = world.shipments(40, 900, carriers=WITHOUT_DHL, new_share=NEW_SHARE, slow=True)
    served_at = now()
    outputs = world.predict(model, day4)
    predictions = [
        {"request_id": f"d4-{i:04d}", "version_id": live, "output": out, "served_at": served_at,
         "features": row.features()}
        for i, (row, out) in enumerate(zip(day4, outputs, strict=True))
    ]  # fmt: skip
    run("predictions", "import", _write_jsonl(story, "predictions-day4.jsonl", predictions),
        "--env", "production")  # fmt: skip
    right = [out == row.late for row, out in zip(day4, outputs, strict=True)]
    feedback: list[dict[str, object]] = [
        {"request_id": p["request_id"], "label": row.late, "was_correct": ok}
        for p, row, ok in zip(predictions, day4, right, strict=True)
    ]
    run("feedback", "import", _write_jsonl(story, "feedback-day4.jsonl", feedback))
    new = [ok for row, ok in zip(day4, right, strict=True) if row.route == "new"]
    note(
        f"day 4: delay@3 was right on {sum(right) / len(right):.0%} of all shipments but on "
        f"{sum(new) / len(new):.0%} of the {len(new)} on new routes"
    )

    say("DETECT: drift per version and per protected slice, new_routes defined by its features.")
    (story.base / "drift.yaml").write_text(DRIFT_POLICY)
    run("drift", "check", "production", "--window", "1h", "--policy", "drift.yaml",
        "--html", "drift-report.html", "--trigger-retrain", expect=1)  # fmt: skip
    with story.ledger.db.read() as conn:
        alerts = events.listing(conn, subject=live, kind="drift_alert")
    found = [a for a in alerts if a.payload["name"] == "new_routes"]
    expect(bool(found), "no drift alert on new_routes")
    say("The alert opens an incident: each step of the runbook is a command and an event.")
    run("incident", "open", "production", "--from", f"drift_alert:{found[0].seq}")

    say("CONTAIN: rehearse the rollback in a fresh process, then flip production back to night 1.")
    started = time.perf_counter()
    run("incident", "contain", "inc-1", "--key", key_of(APPROVER),
        "--reason", "new-route deliveries late: drift alert on new_routes")  # fmt: skip
    took = time.perf_counter() - started
    note(f"containment took {took:.2f} s, rehearsal and checks included")
    run("env", "history", "production")

    say("ASSESS: where do delay@3's failures concentrate?")
    run("incident", "assess", "inc-1", "--window", "1h", "--policy", "drift.yaml")
    say("DIAGNOSE: the cause, recorded with its evidence (the drift report's signals).")
    run("incident", "diagnose", "inc-1", "--cause", "drift", "--window", "1h",
        "--policy", "drift.yaml")  # fmt: skip
    say(
        "RECOVER: night 3's gradient-boosting challenger must pass the whole gate against what is "
        "live, then shadows it, then takes a 10 % canary; going fully live stays a promotion."
    )
    run("incident", "recover", "inc-1", "delay-gbm@1", "--key", key_of(APPROVER))
    run("incident", "recover", "inc-1", "delay-gbm@1", "--canary", "10", "--key", key_of(APPROVER))
    say(
        "PREVENT: the failure cluster becomes a regression case the gate now requires, and "
        "delay@3's card gets the known limitation."
    )
    run("incident", "prevent", "inc-1", "--key", key_of(REQUESTER))
    run("incident", "show", "inc-1")


def audit_and_delete(story: Story) -> None:
    say("The auditor asks about one of day 3's answers: which version, what data, who approved?")
    request = next(a for a in story.served if a["arm"] == "primary")
    expect(request["version_id"] == story.versions["delay@3"], "day 3 was not served by delay@3")
    run("audit", "prediction", request["request_id"])

    say("A customer asks to be deleted: which snapshots hold their rows, which models retrain?")
    from modelledger import client as ml

    record = f"customer_id={world.read_csv([story.base / 'data' / partition(1) / 'part.csv'])[0].customer_id}"
    run("data", "affected", "--record", record)
    found = ml.affected(record=record, ledger=story.ledger)
    names = sorted({f"{s['name']} {short(s['id'])}" for s in found["snapshots"]})
    expect(bool(found["models"]), f"no model trained on {record}")
    note(
        f"{len(names)} snapshots hold the record ({', '.join(names)}); retrain without it: "
        + ", ".join(sorted(m["label"] for m in found["models"]))
    )
