"""How each content-addressed id follows from its row, from the capabilities that define them:
``audit verify`` re-derives every id with these (the ledger itself knows none of the recipes)."""

from __future__ import annotations

import json

from modelledger.core.canonical import digest
from modelledger.data.manifest import snapshot_id
from modelledger.data.transform import TRANSFORM
from modelledger.evals.results import result_id
from modelledger.ledger.integrity import IdRecipe
from modelledger.models.system import system_id
from modelledger.models.version import id_from_record


def _transform(record_json: str) -> str:
    from modelledger.core import ids

    return ids.make_id(TRANSFORM, json.loads(record_json))


def _result(subject: str, eval_set: str, metrics: str, slices: str, report: str | None) -> str:
    return result_id(subject, eval_set, json.loads(metrics), json.loads(slices), report)


RECIPES = (
    IdRecipe("model_versions", ("id", "tuple_json"), id_from_record),
    IdRecipe("snapshots", ("id", "tree_sha256"), snapshot_id),
    IdRecipe("transforms", ("id", "record_json"), _transform),
    IdRecipe("systems", ("id", "components_json"), lambda c: system_id(json.loads(c))),
    IdRecipe(
        "eval_results",
        ("id", "subject_id", "eval_set_id", "metrics_json", "slices_json", "report_sha256"),
        _result,
    ),
    IdRecipe("gate_policies", ("sha256", "policy_json"), lambda p: digest(json.loads(p))),
)
