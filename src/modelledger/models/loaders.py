"""Model loaders: turn a version's declared loader and its artifact path into a predicting object.

A version declares its loader at registration:

- ``joblib``: ``joblib.load(path)`` (joblib is optional; its absence is a load failure);
- ``pickle``: ``pickle.load`` of the file;
- ``python:package.module:factory``: import the module, call ``factory(path)`` — ``path`` is the
  artifact, a file or a directory — and use what it returns (an object with ``predict`` and/or
  ``predict_proba``, or a plain callable taking a list of feature dicts).

**Nothing here verifies hashes.** Unpickling and importing run arbitrary code, so the caller's
contract is to verify the artifact's bytes against the version's recorded sha256 (and to trust the
version's code) *before* calling ``load_model`` or ``load_in_subprocess``: never load an unverified
pickle.

``services.loading.load_in_subprocess`` runs ``load_check`` (this package) in a child interpreter.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

from modelledger.core.errors import CheckFailed
from modelledger.models.loader import parse_loader

PREDICT_METHODS: tuple[str, ...] = ("predict", "predict_proba")


class LoadFailed(CheckFailed):
    """A model could not be loaded, or what was loaded cannot predict (exit 1)."""

    exit_code = 1


def _one_line(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def load_model(loader: str, path: Path) -> Any:
    """Load the artifact at ``path`` with ``loader``; LoadFailed (naming both) if that fails.

    The caller must have verified the artifact's bytes first (see the module docstring).
    """
    spec = parse_loader(loader)
    path = Path(path)
    try:
        if spec.kind == "joblib":
            try:
                joblib = importlib.import_module("joblib")
            except ImportError as exc:
                raise LoadFailed(
                    f"loader 'joblib' could not load {path}: joblib is not installed "
                    f"({_one_line(exc)})"
                ) from exc
            return joblib.load(path)
        if spec.kind == "pickle":
            with path.open("rb") as handle:
                return pickle.load(handle)
        assert spec.module is not None and spec.factory is not None
        module = importlib.import_module(spec.module)
        factory = getattr(module, spec.factory)
        if not callable(factory):
            raise TypeError(f"{spec.module}.{spec.factory} is not callable")
        return factory(path)
    except LoadFailed:
        raise
    except (Exception, SystemExit) as exc:  # a factory calling sys.exit() is a failed load too
        raise LoadFailed(f"loader {loader!r} could not load {path}: {_one_line(exc)}") from exc


def _has_method(model: Any, name: str) -> bool:
    try:
        return callable(getattr(model, name))
    except Exception:  # AttributeError, or a property (e.g. sklearn's available_if) that raises
        return False


def check_interface(model: Any) -> list[str]:
    """The prediction methods ``model`` exposes among PREDICT_METHODS, or ``["__call__"]``."""
    methods = [name for name in PREDICT_METHODS if _has_method(model, name)]
    if methods:
        return methods
    if callable(model):
        return ["__call__"]
    raise LoadFailed(
        f"object of type {type_name(model)} has no predict/predict_proba and is not callable"
    )


def type_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"
