"""Registration's hooks: what a higher capability adds to a registration (drift's reference
profile) runs in the registering transaction or after it, and the version stands without it."""

import dataclasses
import subprocess
import sys
import typing

from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.drift.hook import ProfileHook
from modelledger.models import reads as models
from modelledger.models.register import RegisterOptions, RegisterRequest, register
from tests.conftest import write


def _training(ledger, project):
    table = write(
        project / "train.csv", "amount,late\n" + "".join(f"{i},{i % 2}\n" for i in range(50))
    )
    snap = snapshot(ledger, SnapshotRequest([table], "train")).snapshot
    return RegisterRequest.of(
        "delay", write(project / "m.bin", b"w"), data=[f"{snap.id}:train"], code_ref="x",
        card={"label": "late"},
    )  # fmt: skip


def test_options_and_request_name_the_same_fields():
    fields = {f.name for f in dataclasses.fields(RegisterRequest)} - {"name", "artifact"}
    assert set(typing.get_type_hints(RegisterOptions)) == fields


def test_request_of_normalises_what_the_python_api_hands_over(project):
    art = write(project / "m.bin", b"w")
    request = RegisterRequest.of("m", str(art), data=("ds-1",), lock=str(art), params={"a": 1})
    assert request.artifact == art and request.lock == art
    assert request.data == ["ds-1"] and request.params == {"a": 1} and request.manifest == {}


def test_without_hooks_models_alone_take_no_profile(ledger, project):
    result = register(ledger, _training(ledger, project), hooks=())
    assert result.created and result.extras == {}


def test_the_drift_hook_takes_the_profile(ledger, project):
    result = register(ledger, _training(ledger, project), hooks=[ProfileHook()])
    profile = result.extras["drift_profile"]
    assert profile is not None and profile.rows == 50 and profile.source == "training"


class _Broken(ProfileHook):
    key = "broken"
    label = "broken thing"

    def after_commit(self, ledger, version, plan):
        raise RuntimeError("disk on fire")


def test_a_version_stands_when_its_hook_fails_after_commit(ledger, project):
    result = register(ledger, _training(ledger, project), hooks=[_Broken()])
    assert result.created
    assert result.extras == {"broken": None}
    assert result.warnings == ("no broken thing: RuntimeError: disk on fire",)
    assert models.get_version(ledger, result.version.id).id == result.version.id


def test_a_version_stands_when_its_profile_cannot_be_taken(ledger, project):
    # the card names a label the training data lacks: no profile, the version is registered
    request = dataclasses.replace(_training(ledger, project), card={"label": "no_such_column"})
    result = register(ledger, request, hooks=[ProfileHook()])
    assert result.created and result.extras == {"drift_profile": None}
    assert result.warnings == (
        "no drift reference profile: model card label 'no_such_column' is not a column of the "
        "training data (columns: amount, late)",
    )
    assert models.get_version(ledger, result.version.id).label == "delay@1"


def test_a_hook_installed_by_name_is_made_on_first_use(monkeypatch):
    from modelledger.models import hooks

    monkeypatch.setattr(hooks, "_installed", [])
    hooks.install("modelledger.drift.hook:ProfileHook")
    hooks.install("modelledger.drift.hook:ProfileHook")  # twice: still one
    hooks.install(ProfileHook())  # the same key: the first one stands
    made = hooks.installed()
    assert [type(h) for h in made] == [ProfileHook]
    assert hooks.installed()[0] is made[0]  # made once


def test_the_command_line_and_the_api_install_the_drift_hook():
    for module in ("modelledger.cli.root", "modelledger.client"):
        code = (
            f"import sys, {module}; from modelledger.models.hooks import installed; "
            "print([h.key for h in installed()])"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.stdout.strip() == "['drift_profile']", (module, out.stderr)
