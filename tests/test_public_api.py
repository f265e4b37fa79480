"""The public face: what ``import modelledger as ml`` offers is what client.py defines and what
docs/python-api.md documents, and the exceptions have one public home."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import modelledger as ml
from modelledger import client, errors
from modelledger.core import errors as core_errors

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def _client_public() -> set[str]:
    return {
        name
        for name, obj in vars(client).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == client.__name__
    }


def test_all_is_exactly_what_client_defines():
    assert sorted(ml.__all__) == sorted(_client_public())


def test_every_name_resolves_and_completes():
    for name in ml.__all__:
        assert getattr(ml, name) is getattr(client, name)
    public = {n for n in dir(ml) if not n.startswith("_")}
    assert public == {*ml.__all__, "errors"}  # nothing else offered to a REPL's completion
    assert ml.errors is errors
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = ml.nope


def test_docs_name_only_what_exists_and_document_everything():
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"\bml\.([A-Za-z_]\w*)", text))
    assert named - set(ml.__all__) == set(), "docs call ml.X that does not exist"
    missing = {n for n in ml.__all__ if f"ml.{n}" not in text and f"`{n}`" not in text}
    assert missing == set(), "public names the docs do not mention"


def test_docs_import_only_public_modules():
    text = DOC.read_text(encoding="utf-8")
    imported = set(re.findall(r"from (modelledger[\w.]*) import", text))
    assert imported <= {"modelledger", "modelledger.errors"}


def test_errors_has_the_whole_hierarchy():
    for name in errors.__all__:
        exc = getattr(errors, name)
        assert issubclass(exc, core_errors.MledgerError), name
        assert name in errors.__doc__
    assert errors.NotFound is core_errors.NotFound
    assert issubclass(errors.GateFailed, errors.CheckFailed)
    assert {n for n in dir(errors) if not n.startswith("_")} == set(errors.__all__)
    defined = {
        name
        for name, obj in vars(core_errors).items()
        if inspect.isclass(obj) and issubclass(obj, core_errors.MledgerError)
    }
    assert defined <= set(errors.__all__)


def test_importing_the_face_is_cheap():
    code = (
        "import sys, modelledger, modelledger.errors; "
        "print(sorted(m for m in ('sqlalchemy', 'numpy', 'duckdb', 'pydantic', 'typer') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
