from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelledger.core.errors import CheckFailed, InvalidInput
from modelledger.models import load_check
from modelledger.models.loader import LOADER_PATTERN, Loader, parse_loader
from modelledger.models.loaders import LoadFailed, check_interface, load_model
from modelledger.models.loading import LoadCheck, load_in_subprocess
from tests.models import fake_models

FAKE = "python:tests.models.fake_models"
ROOT = Path(__file__).resolve().parents[2]  # where `tests` is importable from


@pytest.fixture
def pickled(tmp_path: Path) -> Path:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(fake_models.Scaler(5.0)))
    return path


@pytest.fixture
def corrupt(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.pkl"
    path.write_bytes(b"\x00this is not a pickle\n")
    return path


def _sklearn_model():
    linear_model = pytest.importorskip("sklearn.linear_model")
    x = [[i / 10, (i * 7) % 5] for i in range(20)]
    y = [int(row[0] + row[1] > 2.5) for row in x]
    return linear_model.LogisticRegression().fit(x, y), x


# -- parsing ------------------------------------------------------------------------------------


def test_parse_loader_kinds():
    assert parse_loader("joblib") == Loader("joblib")
    assert parse_loader("pickle") == Loader("pickle")
    assert parse_loader("python:pkg.mod:make") == Loader("python", "pkg.mod", "make")
    assert str(parse_loader("python:pkg.mod:make")) == "python:pkg.mod:make"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Pickle",
        "cloudpickle",
        "pickle\n",
        "python:",
        "python:pkg",
        "python:pkg:",
        "python:1pkg:make",
        "python:pkg:make:extra",
        "python:pkg..mod:make",
        "python:pkg.:make",
        "python:pkg/mod:make",
    ],
)
def test_bad_loader_strings(text):
    with pytest.raises(InvalidInput, match="loader"):
        parse_loader(text)


def test_registration_refuses_what_the_loader_cannot_parse():
    from modelledger.models.register import RegisterRequest, check_request

    assert not LOADER_PATTERN.fullmatch("pickle\n")
    for bad in ("pickle\n", "python:pkg..mod:f", "torch"):
        with pytest.raises(InvalidInput, match="loader"):
            check_request(RegisterRequest(name="m", artifact=Path(__file__), loader=bad))


def test_load_model_rejects_a_bad_loader_before_touching_the_path(tmp_path):
    with pytest.raises(InvalidInput):
        load_model("torch", tmp_path / "missing")


# -- loading in process -------------------------------------------------------------------------


def test_pickle_round_trip(pickled):
    model = load_model("pickle", pickled)
    assert isinstance(model, fake_models.Scaler)
    assert model.predict([{"x": 1.0}, {"x": 2.0}]) == [5.0, 10.0]
    assert check_interface(model) == ["predict"]


def test_sklearn_round_trip_with_pickle_and_joblib(tmp_path):
    model, x = _sklearn_model()
    joblib = pytest.importorskip("joblib")
    joblib.dump(model, tmp_path / "m.joblib")
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(model))
    for loader, name in (("joblib", "m.joblib"), ("pickle", "m.pkl")):
        loaded = load_model(loader, tmp_path / name)
        assert list(loaded.predict(x)) == list(model.predict(x))
        assert check_interface(loaded) == ["predict", "predict_proba"]


def test_joblib_missing_is_a_load_failure(monkeypatch, pickled):
    monkeypatch.setitem(sys.modules, "joblib", None)  # makes `import joblib` raise ImportError
    with pytest.raises(LoadFailed, match=r"loader 'joblib' .*joblib is not installed"):
        load_model("joblib", pickled)


def test_python_factory_with_a_file_and_a_folder(tmp_path):
    (tmp_path / "params.json").write_text('{"factor": 4}')
    folder_model = load_model(f"{FAKE}:make_scaler", tmp_path)
    file_model = load_model(f"{FAKE}:make_scaler", tmp_path / "params.json")
    assert folder_model.predict([{"x": 1}]) == file_model.predict([{"x": 1}]) == [4]


def test_python_factory_returning_a_callable(tmp_path):
    model = load_model(f"{FAKE}:make_function", tmp_path)
    assert check_interface(model) == ["__call__"]
    assert model([{}, {}]) == [2, 2]


def test_corrupt_pickle_names_loader_path_and_cause(corrupt):
    with pytest.raises(LoadFailed) as info:
        load_model("pickle", corrupt)
    message = str(info.value)
    assert "'pickle'" in message and str(corrupt) in message
    assert "UnpicklingError" in message
    assert "\n" not in message
    assert isinstance(info.value, CheckFailed) and info.value.exit_code == 1


def test_missing_file(tmp_path):
    with pytest.raises(LoadFailed, match="FileNotFoundError"):
        load_model("pickle", tmp_path / "nope.pkl")


@pytest.mark.parametrize(
    ("loader", "cause"),
    [
        ("python:tests.models.no_such_module:make", "ModuleNotFoundError"),
        (f"{FAKE}:no_such_factory", "AttributeError"),
        (f"{FAKE}:not_callable", "TypeError"),
        (f"{FAKE}:make_broken", "ValueError: weights file is truncated"),
    ],
)
def test_python_factory_failures(tmp_path, loader, cause):
    with pytest.raises(LoadFailed, match=cause) as info:
        load_model(loader, tmp_path)
    assert loader in str(info.value) and "\n" not in str(info.value)


def test_interfaces():
    assert check_interface(fake_models.ProbaOnly()) == ["predict_proba"]
    with pytest.raises(LoadFailed, match=r"tests\.models\.fake_models\.Inert has no predict"):
        check_interface(fake_models.Inert())
    with pytest.raises(LoadFailed, match=r"builtins\.dict"):
        check_interface({"predict": "not a method"})


# -- the child process --------------------------------------------------------------------------


def test_subprocess_ok(pickled):
    result = load_in_subprocess("pickle", pickled, timeout=30)
    assert result == LoadCheck(
        True, "tests.models.fake_models.Scaler", result.seconds, ("predict",)
    )
    assert 0 <= result.seconds < 5


def test_subprocess_sklearn_joblib(tmp_path):
    model, _ = _sklearn_model()
    joblib = pytest.importorskip("joblib")
    joblib.dump(model, tmp_path / "m.joblib")
    result = load_in_subprocess("joblib", tmp_path / "m.joblib", timeout=60)
    assert result.ok, result.detail
    assert result.interface == ("predict", "predict_proba")
    assert result.detail.endswith("LogisticRegression")


def test_subprocess_corrupt_bytes(corrupt):
    result = load_in_subprocess("pickle", corrupt, timeout=30)
    assert not result.ok
    assert "UnpicklingError" in result.detail and "'pickle'" in result.detail


def test_subprocess_object_without_predict(tmp_path):
    result = load_in_subprocess(f"{FAKE}:make_inert", tmp_path, timeout=30)
    assert not result.ok and "has no predict/predict_proba" in result.detail


def test_subprocess_timeout(tmp_path):
    started = time.perf_counter()
    result = load_in_subprocess(f"{FAKE}:make_slow", tmp_path, timeout=1)
    assert result == LoadCheck(False, "did not load within 1s", result.seconds)
    assert time.perf_counter() - started < 5


def test_subprocess_crash_reports_last_stderr_line(tmp_path):
    result = load_in_subprocess(f"{FAKE}:make_crash", tmp_path, timeout=30)
    assert not result.ok
    assert result.detail == "load check exited with code 3: segfault-ish: going down hard"


def test_subprocess_output_of_the_model_code_does_not_forge_the_report(tmp_path):
    result = load_in_subprocess(f"{FAKE}:make_noisy", tmp_path, timeout=30)
    assert result.ok, result.detail
    assert result.interface == ("predict",)


def test_subprocess_imports_from_cwd(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "userpkg").mkdir(parents=True)
    (project / "userpkg" / "__init__.py").write_text("")
    (project / "userpkg" / "serve.py").write_text(
        "def load(path):\n    return lambda rows: [0] * len(rows)\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = load_in_subprocess("python:userpkg.serve:load", project, timeout=30, cwd=project)
    assert result.ok, result.detail
    assert result.interface == ("__call__",)


def test_subprocess_bad_loader_is_bad_input(tmp_path):
    with pytest.raises(InvalidInput):
        load_in_subprocess("torch", tmp_path)


def test_load_check_command_line(pickled, corrupt):
    def run(*args: str) -> tuple[int, list[str]]:
        proc = subprocess.run(
            [sys.executable, "-m", "modelledger.models.load_check", *args],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
        return proc.returncode, proc.stdout.splitlines()

    code, lines = run("pickle", str(pickled))
    assert code == 0 and len(lines) == 1
    report = json.loads(lines[0])
    assert report["ok"] is True and report["interface"] == ["predict"]
    assert report["type"] == "tests.models.fake_models.Scaler"
    assert isinstance(report["seconds"], float)

    code, lines = run("pickle", str(corrupt))
    assert code == 1 and json.loads(lines[0])["ok"] is False

    code, lines = run("torch", str(corrupt))
    assert code == 2 and "expected joblib" in json.loads(lines[0])["error"]

    code, lines = run("pickle")
    assert code == 2 and json.loads(lines[0]) == {"ok": False, "error": load_check.USAGE}
