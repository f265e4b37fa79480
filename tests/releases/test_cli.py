"""The issue's "done when" through the CLI, as a new user would type it, on both backends."""

import json

from tests.conftest import jrun, write
from tests.people import key_file, people_via_cli, promote_via_cli

EVAL = "user,segment,label\n" + "".join(
    f"u{i},{'new' if i % 3 else 'old'},{i % 2}\n" for i in range(30)
)


def _register(cli, project, n, monkeypatch):
    monkeypatch.setenv("MLEDGER_USER", "alice")
    art = write(project / f"m{n}.bin", f"weights {n}")
    out = jrun(
        cli,
        "model",
        "register",
        "fraud",
        "-a",
        str(art),
        "--code-ref",
        f"git+x@{n}",
        "-p",
        f"n={n}",
    )
    monkeypatch.setenv("MLEDGER_USER", "carol")
    return out["id"]


def test_gate_promote_history_rehearse_rollback(ledger_cli, project, monkeypatch):
    cli = ledger_cli
    es = jrun(cli, "eval", "set", "create", "core", str(write(project / "eval.csv", EVAL)))["id"]
    ids = [_register(cli, project, n, monkeypatch) for n in (1, 2, 3)]
    write(
        project / "policy.yaml",
        f"eval_set: {es}\nmetrics:\n  - {{name: auc, min: 0.8, max_drop_vs_live: 0.01}}\n"
        "protected_slices: {names: [new_users], max_drop: 0.02}\n",
    )
    assert jrun(cli, "env", "policy", "production", "policy.yaml")["changed"]
    assert jrun(cli, "env", "policy", "production")["policy"]["eval_set"] == es

    # a candidate without a result fails and says what to run
    res = cli("gate", "check", "fraud@1", "--env", "production", code=1)
    assert "mledger eval record" in res.stdout

    cli(
        "eval",
        "record",
        "fraud@1",
        "--eval-set",
        es,
        "--metric",
        "auc=0.90",
        "--slice",
        "new_users:auc=0.85",
    )
    write(project / "m2.yaml", "auc: 0.93\nslices: {new_users: {auc: 0.80}}\n")
    cli("eval", "record", "fraud@2", "--eval-set", es, "--metrics", "m2.yaml")
    cli("eval", "record", "fraud@3", "--eval-set", es, "-m", "auc=0.91", "-s", "new_users:auc=0.86")

    cli("gate", "check", "fraud@1", "--env", "production")  # nothing live: floors only
    first = promote_via_cli(cli, project, "fraud@1", "production")
    assert first["previous"] is None and first["approvers"] == ["bob"]
    assert first["request"].startswith("pr-")
    carol = str(key_file(project, "carol"))

    gate = jrun(cli, "gate", "check", "fraud@2", "--env", "production", code=1)
    failed = [c["name"] for c in gate["criteria"] if not c["passed"]]
    assert failed == ["slice new_users auc vs live"]
    res = cli("promote", "fraud@2", "--to", "production", "--key", carol, code=1)
    assert "nothing was changed" in res.stderr and "new_users" in res.stdout

    # a request waits for approvals; the registrant cannot approve her own version
    opened = cli(
        "promote", "fraud@3", "--to", "production", "--key", carol, "--reason", "fixes new users"
    )
    assert "pending" in opened.stdout and "mledger approve pr-" in opened.stdout
    [pending] = jrun(cli, "request", "list")
    assert (pending["label"], pending["status"], pending["approved_by"]) == (
        "fraud@3",
        "pending",
        [],
    )
    assert jrun(cli, "env", "show", "production")["id"] == ids[0]  # nothing moved yet
    people_via_cli(cli, project, ["alice"])
    res = cli("approve", pending["id"][:12], "--key", str(key_file(project, "alice")), code=3)
    assert "alice registered fraud@3: four eyes needs someone else" in res.stderr
    res = cli("approve", pending["id"][:12], "--key", carol, code=3)
    assert "carol requested this promotion" in res.stderr
    done = jrun(cli, "approve", pending["id"], "--key", str(key_file(project, "bob")))
    assert done["promoted"] and done["request"]["status"] == "promoted"
    done = done["promotion"]
    assert (done["id"], done["previous"], done["approvers"]) == (ids[2], ids[0], ["bob"])
    assert "promoted" in cli("request", "show", pending["id"][:12]).stdout
    assert "no pending promotion requests" in cli("request", "list").stdout

    show = jrun(cli, "env", "show", "production")
    assert (show["id"], show["label"], show["promoted_by"], show["approved_by"]) == (
        ids[2],
        "fraud@3",
        "carol",
        ["bob"],
    )
    assert "fraud@3" in cli("env", "show", "production").stdout
    assert jrun(cli, "model", "show", "fraud@production")["id"] == ids[2]

    history = jrun(cli, "env", "history", "production")
    assert [h["label"] for h in history] == ["fraud@1", "fraud@3"]
    when = history[0]["at"]
    assert jrun(cli, "env", "at", "production", when)["label"] == "fraud@1"
    assert "fraud@1" in cli("env", "at", "production", when).stdout
    assert "not an ISO-8601 time" in cli("env", "at", "production", "last tuesday", code=2).stderr
    assert "did not exist" in cli("env", "at", "production", "2000-01-01", code=2).stderr

    rehearsal = jrun(cli, "rehearse", "production")  # no loaders declared: loads are skipped
    assert rehearsal["passed"] and rehearsal["target"]["label"] == "fraud@1"

    bob = str(key_file(project, "bob"))
    res = cli("rollback", "production", "--key", bob, code=2)
    assert "--reason" in res.stderr
    typed = cli("rollback", "production", "--approver", "bob", "--reason", "x", code=2).stderr
    assert "not approved by typed --approver names" in typed or "takes your signing key" in typed
    back = jrun(cli, "rollback", "production", "--key", bob, "--reason", "pager at 3am")
    assert back["approvers"] == ["bob"] and back["requester"] == "bob"
    assert (back["label"], back["previous_label"]) == ("fraud@1", "fraud@3")
    assert jrun(cli, "env", "show", "production")["action"] == "rollback"
    assert (
        "no version to roll back to"
        in cli("rollback", "production", "--key", bob, "--reason", "again", code=2).stderr
    )

    kinds = [e["kind"] for e in jrun(cli, "audit", "log", "--env", "production")]
    assert kinds == ["env.policy", "promotion", "promotion", "rehearsal", "rollback"]
    assert jrun(cli, "audit", "verify")["ok"]

    compare = jrun(cli, "eval", "compare", "fraud@1", "fraud@3")
    assert compare["eval_sets"][0]["metrics"][0]["delta"] > 0
    assert "new_users: auc" in cli("eval", "compare", "fraud@1", "fraud@3").stdout


def test_compare_refuses_without_a_common_eval_set_and_stale_lists_work(
    ledger_cli, project, monkeypatch
):
    cli = ledger_cli
    a = jrun(cli, "eval", "set", "create", "q1", str(write(project / "q1.csv", EVAL)))["id"]
    b = jrun(
        cli, "eval", "set", "create", "q2", str(write(project / "q2.csv", EVAL + "u99,new,1\n"))
    )["id"]
    for n in (1, 2):
        _register(cli, project, n, monkeypatch)
    cli("eval", "record", "fraud@1", "-e", a, "-m", "auc=0.91")
    cli("eval", "record", "fraud@2", "-e", b, "-m", "auc=0.93")
    res = cli("eval", "compare", "fraud@1", "fraud@2", code=1)
    assert "not scored on a common eval set" in res.stderr
    stale = jrun(cli, "eval", "stale", "--eval-set", b)
    assert [m["label"] for m in stale["missing"]] == ["fraud@1"]
    assert "fraud@1" in cli("eval", "stale", "--eval-set", b).stdout


def test_bad_input_messages(ledger_cli, project, monkeypatch):
    cli = ledger_cli
    es = jrun(cli, "eval", "set", "create", "core", str(write(project / "eval.csv", EVAL)))["id"]
    _register(cli, project, 1, monkeypatch)
    write(project / "bad.yaml", "- 0.9\n")
    assert (
        "mapping"
        in cli("eval", "record", "fraud@1", "-e", es, "--metrics", "bad.yaml", code=2).stderr
    )
    write(project / "words.yaml", "auc: high\n")
    assert (
        "'auc'"
        in cli("eval", "record", "fraud@1", "-e", es, "--metrics", "words.yaml", code=2).stderr
    )
    assert (
        "SLICE:METRIC=NUMBER"
        in cli("eval", "record", "fraud@1", "-e", es, "-s", "auc=0.9", code=2).stderr
    )
    write(project / "typo.yaml", "aprovers: 2\n")
    assert "aprovers" in cli("env", "policy", "production", "typo.yaml", code=2).stderr
    assert "no environment named 'production'" in cli("env", "show", "production", code=2).stderr
    cli("env", "create", "production")
    assert "nothing" in cli("env", "show", "production").stdout
    assert "fraud@9" in cli("promote", "fraud@9", "--to", "production", code=2).stderr
    # approvals are signatures: with no identities set up, promotion says what to do
    assert "mledger identity init" in cli("promote", "fraud@1", "--to", "production", code=2).stderr
    gone = cli("promote", "fraud@1", "--to", "production", "--approver", "bob", code=2).stderr
    assert "--approver is gone" in gone and "mledger approve" in gone
    assert (
        "nothing is live"
        in cli("rollback", "production", "--approver", "b", "--reason", "r", code=2).stderr
    )
    assert (
        json.loads(cli("audit", "log", "--env", "production", "--json").stdout)[-1]["kind"]
        == "env.created"
    )


def test_system_create_show_diff_and_promote(ledger_cli, project, monkeypatch):
    cli = ledger_cli
    gen = _register(cli, project, 1, monkeypatch)
    idx1 = jrun(
        cli,
        "data",
        "snapshot",
        str(write(project / "idx1" / "v.txt", "vectors 1")),
        "--name",
        "index",
    )["id"]
    idx2 = jrun(
        cli,
        "data",
        "snapshot",
        str(write(project / "idx2" / "v.txt", "vectors 2")),
        "--name",
        "index",
    )["id"]
    one = jrun(cli, "system", "create", "rag", "-c", "generator=fraud@1", "-c", f"index={idx1}")
    assert one["created"] and one["components"] == {"generator": gen, "index": idx1}
    again = jrun(
        cli, "system", "create", "rag", "-c", f"index={idx1[:12]}", "-c", f"generator={gen}"
    )
    assert (again["id"], again["created"]) == (one["id"], False)
    two = jrun(cli, "system", "create", "rag", "-c", "generator=fraud@1", "-c", f"index={idx2}")
    diff = jrun(cli, "system", "diff", "rag@1", "rag@2")
    assert [c["key"] for c in diff["changed"]] == ["index"] and diff["unchanged"] == ["generator"]
    assert "changed index" in cli("system", "diff", "rag@1", "rag@2").stdout
    assert "generator" in cli("system", "show", "rag@2").stdout
    assert [s["label"] for s in jrun(cli, "system", "list")] == ["rag@2", "rag@1"]
    cli("env", "create", "production")
    promote_via_cli(cli, project, "rag@1", "production")
    assert jrun(cli, "env", "show", "production")["label"] == "rag@1"
    promote_via_cli(cli, project, two["id"], "production")
    back = jrun(
        cli,
        "rollback",
        "production",
        "--key",
        str(key_file(project, "bob")),
        "--reason",
        "reindex broke answers",
    )
    assert back["label"] == "rag@1"
    assert "KEY=REF" in cli("system", "create", "bad", "-c", "generator", code=2).stderr
