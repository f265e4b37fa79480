"""`model search` as an MLflow user expects it: by name, hyperparameter (ranges), score on an
eval set, data, tag, registrant and time, with `--json`; on SQLite and PostgreSQL."""

import pytest

from tests.conftest import jrun, write


@pytest.fixture
def zoo(ledger_cli, project, monkeypatch):
    """Five versions of two models, two eval sets, scores on them, one training snapshot."""
    cli = ledger_cli
    write(project / "train" / "t.csv", "x,y\n1,0\n2,1\n")
    train = jrun(cli, "data", "snapshot", "train", "--name", "shipments")["id"]
    write(project / "hold" / "h.csv", "x,y\n3,0\n")
    write(project / "hold2" / "h.csv", "x,y\n4,1\n")
    holdout = jrun(cli, "eval", "set", "create", "holdout", "hold")["id"]
    other = jrun(cli, "eval", "set", "create", "stress", "hold2")["id"]
    specs = [
        ("delay", "alice", {"lr": 0.1, "opt": "adam", "depth": 3}, True),
        ("delay", "bob", {"lr": 0.01, "opt": "sgd", "depth": 5}, True),
        ("delay", "alice", {"lr": 0.05, "opt": "adam", "net": {"width": 64}}, False),
        ("churn", "bob", {"lr": 0.05, "opt": "adam", "flag": True}, False),
        ("churn_v2", "carol", {"lr": 1, "opt": "adam"}, True),
    ]
    ids = []
    for n, (name, user, params, trained) in enumerate(specs):
        monkeypatch.setenv("MLEDGER_USER", user)
        art = write(project / f"m{n}.bin", f"weights {n}")
        args = ["model", "register", name, "-a", str(art), "--code-ref", f"x@{n}"]
        for k, v in params.items():
            args += ["-p", f"{k}={v if not isinstance(v, dict | bool) else _json(v)}"]
        if trained:
            args += ["-d", f"{train}:train"]
        ids.append(jrun(cli, *args)["id"])
    monkeypatch.setenv("MLEDGER_USER", "carol")
    for vid, auc in zip(ids, (0.91, 0.72, 0.85, 0.80, 0.60), strict=True):
        jrun(cli, "eval", "record", vid, "-e", holdout, "-m", f"auc={auc}", "-m", "loss=0.3")
    jrun(cli, "eval", "record", ids[0], "-e", other, "-m", "auc=0.5")
    return cli, ids, {"train": train, "holdout": holdout, "stress": other}


def _json(value):
    import json

    return json.dumps(value)


def _labels(found):
    return [v["label"] for v in found]


def test_params_names_data_and_registrant(zoo):
    cli, _ids, sets = zoo
    assert _labels(jrun(cli, "model", "search")) == [
        "churn_v2@1",
        "churn@1",
        "delay@3",
        "delay@2",
        "delay@1",
    ]
    assert _labels(jrun(cli, "model", "search", "delay", "--param", "opt=adam")) == [
        "delay@3",
        "delay@1",
    ]
    found = jrun(cli, "model", "search", "--param", "lr=0.01..0.05")  # both ends included
    assert _labels(found) == ["churn@1", "delay@3", "delay@2"]
    assert found[0]["matched"]["params"] == {"lr": "0.05"}
    assert _labels(jrun(cli, "model", "search", "--param", "lr>0.05")) == [
        "churn_v2@1",
        "delay@1",
    ]
    assert _labels(jrun(cli, "model", "search", "--param", "depth")) == ["delay@2", "delay@1"]
    assert _labels(jrun(cli, "model", "search", "--param", "depth!=3")) == ["delay@2"]
    assert _labels(jrun(cli, "model", "search", "--param", "net.width=64")) == ["delay@3"]
    assert _labels(jrun(cli, "model", "search", "--param", "flag=true")) == ["churn@1"]
    assert _labels(jrun(cli, "model", "search", "--param", "lr=1")) == ["churn_v2@1"]  # 1 == 1.0
    # a * pattern; `_` is literal, not LIKE's any-one-character
    assert _labels(jrun(cli, "model", "search", "churn*")) == ["churn_v2@1", "churn@1"]
    assert _labels(jrun(cli, "model", "search", "churn_*")) == ["churn_v2@1"]
    assert jrun(cli, "model", "search", "chur_") == []
    by_data = jrun(cli, "model", "search", "--data", sets["train"][:10])
    assert _labels(by_data) == ["churn_v2@1", "delay@2", "delay@1"]
    assert _labels(jrun(cli, "model", "search", "--data", "shipments")) == _labels(by_data)
    assert _labels(jrun(cli, "model", "search", "--by", "bob")) == ["churn@1", "delay@2"]
    assert _labels(jrun(cli, "model", "search", "--by", "bob", "--param", "opt=sgd")) == ["delay@2"]


def test_metrics_are_judged_on_one_eval_set(zoo):
    cli, _ids, sets = zoo
    out = cli("model", "search", "--metric", "auc>=0.8", code=2)
    assert "recorded on 2 eval sets" in out.stderr and "holdout" in out.stderr
    assert "stress" in out.stderr and "--eval-set" in out.stderr
    found = jrun(cli, "model", "search", "--metric", "auc>=0.8", "--eval-set", "holdout")
    assert _labels(found) == ["churn@1", "delay@3", "delay@1"]  # 0.80 is included
    assert found[-1]["matched"]["metrics"] == {"auc": 0.91}
    by_id = jrun(cli, "model", "search", "-m", "auc>=0.8", "-e", sets["holdout"][:12])
    assert _labels(by_id) == _labels(found)
    # a metric only one eval set records needs no --eval-set
    assert len(jrun(cli, "model", "search", "--metric", "loss<=0.3")) == 5
    assert _labels(jrun(cli, "model", "search", "--eval-set", "stress")) == ["delay@1"]
    both = jrun(
        cli, "model", "search", "-e", "holdout", "-m", "auc>0.7", "-m", "auc<0.9", "-p", "opt=adam"
    )
    assert _labels(both) == ["churn@1", "delay@3"]
    assert jrun(cli, "model", "search", "--metric", "f1>0") == []  # no result records f1
    table = cli("model", "search", "-e", "holdout", "-m", "auc>=0.9", "-p", "lr").stdout
    assert "auc@holdout" in table and "0.91" in table and "0.1" in table


def test_bad_filters_are_refused_with_what_to_type(zoo):
    cli, _, sets = zoo
    cases = [
        (["--param", "lr<abc"], "is not a finite number"),
        (["--param", "lr=0.5..0.1"], "the range is empty"),
        (["--metric", "auc>=high", "-e", "holdout"], "is not a finite number"),
        (["--tag", "prio>3"], "tags are text"),
        (["--eval-set", "nope"], "no eval set has that name (eval sets: holdout, stress)"),
        (["--eval-set", sets["train"][:12]], "is a snapshot, not an eval set"),
        (["--data", "nope"], "no snapshot has that id or name"),
        (["--since", "yesterday"], "expected an ISO-8601 time"),
        (["--param", "=3"], "expected KEY"),
    ]
    for args, message in cases:
        out = cli("model", "search", *args, code=2)
        assert message in out.stderr, (args, out.stderr)
        assert out.stderr.count("\n") == 1, out.stderr  # one line, no traceback


def test_nothing_matching_says_so_and_a_limit_says_there_is_more(zoo):
    cli, _, _ = zoo
    assert cli("model", "search", "--param", "opt=rmsprop").stdout.strip() == "no versions match"
    out = cli("model", "search", "--limit", "2")
    assert "the newest 2 shown; --limit for more" in out.stderr
    assert len(jrun(cli, "model", "search", "--limit", "2")) == 2


def test_since_and_until(zoo):
    cli, _ids, _ = zoo
    every = jrun(cli, "model", "search")
    assert jrun(cli, "model", "search", "--since", "1h") == every
    assert jrun(cli, "model", "search", "--until", "1h") == []
    oldest = every[-1]["created_at"]
    assert _labels(jrun(cli, "model", "search", "--until", oldest)) == []  # until is exclusive
    assert every[-1] in jrun(cli, "model", "search", "--since", oldest)


def test_tags_and_description_are_labels_outside_the_tuple(zoo):
    cli, ids, _ = zoo
    before = jrun(cli, "model", "show", "delay@1")
    done = jrun(cli, "model", "tag", "delay@1", "stage=candidate", "owner=team-a")
    assert done["tags"] == {"owner": "team-a", "stage": "candidate"}
    assert [c["key"] for c in done["changes"]] == ["stage", "owner"]
    again = jrun(cli, "model", "tag", "delay@1", "stage=candidate")  # already so: no event
    assert again["changes"] == []
    moved = jrun(cli, "model", "tag", "delay@1", "stage=production", "--remove", "owner")
    assert moved["changes"] == [
        {"key": "stage", "old": "candidate", "new": "production"},
        {"key": "owner", "old": "team-a", "new": None},
    ]
    described = jrun(cli, "model", "describe", "delay@1", "  first model with carrier  ")
    assert described["description"] == "first model with carrier"
    after = jrun(cli, "model", "show", "delay@1")
    assert after["id"] == before["id"] and after["tuple"] == before["tuple"]
    assert after["tags"] == {"stage": "production"}
    assert after["description"] == "first model with carrier"
    assert before["tags"] == {} and before["description"] is None
    shown = cli("model", "show", "delay@1").stdout
    assert "stage=production" in shown and "first model with carrier" in shown

    log = jrun(cli, "audit", "log", "--subject", "delay@1", "--kind", "model.tag")
    assert [
        (e["actor"], e["payload"]["key"], e["payload"]["old"], e["payload"]["new"]) for e in log
    ] == [
        ("carol", "stage", None, "candidate"),
        ("carol", "owner", None, "team-a"),
        ("carol", "stage", "candidate", "production"),
        ("carol", "owner", "team-a", None),
    ]
    desc = jrun(cli, "audit", "log", "--subject", ids[0], "--kind", "model.description")
    assert [(e["payload"]["old"], e["payload"]["new"]) for e in desc] == [
        (None, "first model with carrier")
    ]
    assert jrun(cli, "audit", "verify")["ok"] is True

    assert _labels(jrun(cli, "model", "search", "--tag", "stage=production")) == ["delay@1"]
    assert _labels(jrun(cli, "model", "search", "--tag", "stage")) == ["delay@1"]
    assert jrun(cli, "model", "search", "--tag", "stage!=production") == []
    assert jrun(cli, "model", "search", "--tag", "owner") == []  # removed
    found = jrun(cli, "model", "search", "delay", "--tag", "stage")
    assert found[0]["tags"] == {"stage": "production"}

    cleared = jrun(cli, "model", "describe", "delay@1", "--clear")
    assert cleared["description"] is None
    assert jrun(cli, "model", "show", "delay@1")["description"] is None


def test_label_refusals(zoo):
    cli, _, _ = zoo
    cases = [
        (["tag", "delay@1", "--remove", "nope"], "has no tag 'nope'"),
        (["tag", "delay@1", "stage"], "expected KEY=VALUE"),
        (["tag", "delay@1", "bad key=1"], "tag key 'bad key'"),
        (["tag", "delay@1", "a=1", "a=2"], "given twice"),
        (["tag", "delay@1", "a=1", "--remove", "a"], "both set and removed"),
        (["tag", "delay@1", "a=" + "x" * 513], "at most 512 characters"),
        (["tag", "delay@latest", "a=1"], "latest"),  # a write names one version
        (["describe", "delay@1"], "give the description as TEXT, or --clear"),
        (["describe", "delay@1", "   "], "the description is empty"),
        (["describe", "delay@1", "--clear"], "has no description to clear"),
    ]
    for args, message in cases:
        out = cli("model", *args, code=2)
        assert message in out.stderr, (args, out.stderr)
    assert jrun(cli, "audit", "log", "--kind", "model.tag") == []


def test_python_api_searches_and_labels(zoo, project):
    import modelledger as ml

    cli, ids, _ = zoo
    found = ml.search_versions(
        "delay", params=["lr>=0.05"], metrics=["auc>0.8"], eval_set="holdout"
    )
    assert [v.label for v in found] == ["delay@3", "delay@1"]
    assert ml.set_tags("delay@3", {"stage": "shadow"}) == {"stage": "shadow"}
    assert [v.id for v in ml.search_versions(tags=["stage=shadow"])] == [ids[2]]
    ml.describe("delay@3", "wider net")
    assert jrun(cli, "model", "show", "delay@3")["description"] == "wider net"
    assert ml.set_tags("delay@3", remove=["stage"]) == {}
