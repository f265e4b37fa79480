"""modelledger: AI model version control and governance.

    import modelledger as ml
    with ml.run(name="delay", seed=7) as run:
        ...train...
        version = run.log_model("model.pkl", params={"lr": 0.1}, data=["ds-…"])

The public API lives in ``modelledger.client`` and is loaded on first use, so that the CLI does not
pay for it; the exceptions it raises are in ``modelledger.errors``.
"""

__version__ = "0.1.0"
# Kept equal to client.py's public names and to docs/python-api.md by tests/test_client.py.
__all__ = [
    "Run",
    "affected",
    "approve",
    "checkout",
    "checkout_model",
    "create_eval_set",
    "describe",
    "diff_data",
    "drift_check",
    "gate_check",
    "get_version",
    "init",
    "leakage",
    "list_versions",
    "live",
    "live_at",
    "log_predictions",
    "open_ledger",
    "promote",
    "record_eval",
    "register_model",
    "rehearse",
    "rollback",
    "run",
    "search_versions",
    "set_tags",
    "snapshot",
]


def __getattr__(name: str) -> object:
    if name in __all__:
        from modelledger import client

        return getattr(client, name)
    if name == "errors":
        import importlib

        return importlib.import_module("modelledger.errors")
    raise AttributeError(f"module 'modelledger' has no attribute {name!r}")


def __dir__() -> list[str]:
    # what a REPL completes after "ml.": the API, the exceptions module, and the module's dunders
    return sorted({*__all__, "errors", *(n for n in globals() if n.startswith("__"))})
