"""How each content-addressed id follows from its row, from the capabilities that define them:
``audit verify`` re-derives every id with these (the ledger itself knows none of the recipes).

Rows keep their JSON canonical, so most ids are the hash of the stored text rearranged; when
that does not give the id (text written otherwise), the id is derived the careful way, by
parsing. Module-level functions: the recipes travel to verify's worker process by name.
"""

from __future__ import annotations

import hashlib
import json
import re

from modelledger.core import ids
from modelledger.core.canonical import digest
from modelledger.data.manifest import snapshot_id
from modelledger.data.transform import TRANSFORM
from modelledger.evals.results import EVAL_RESULT, result_id
from modelledger.ledger.row_check import IdRecipe
from modelledger.models.system import SYSTEM, system_id
from modelledger.models.version import id_from_record

_STR = json.encoder.encode_basestring
_SIZE = re.compile(r'("artifact":\{[^{}]*?),"size":-?\d+\}')


def _hashed(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


def version(id_: str, tuple_json: str) -> bool:
    # the artifact's size is recorded in the tuple, but is no part of the identity
    if _hashed(ids.MODEL_VERSION, _SIZE.sub(r"\1}", tuple_json, count=1)) == id_:
        return True
    return id_from_record(tuple_json) == id_


def snapshot(id_: str, tree_sha256: str) -> bool:
    return snapshot_id(tree_sha256) == id_


def transform(id_: str, record_json: str) -> bool:
    if _hashed(TRANSFORM, record_json) == id_:
        return True
    return ids.make_id(TRANSFORM, json.loads(record_json)) == id_


def system(id_: str, components_json: str) -> bool:
    if _hashed(SYSTEM, f'{{"components":{components_json},"schema":1}}') == id_:
        return True
    return system_id(json.loads(components_json)) == id_


def result(
    id_: str, subject: str, eval_set: str, metrics: str, slices: str, report: str | None
) -> bool:
    text = (
        f'{{"eval_set":{_STR(eval_set)},"metrics":{metrics},"report_sha256":'
        f'{"null" if report is None else _STR(report)},"schema":1,"slices":{slices},'
        f'"subject":{_STR(subject)}}}'
    )
    if _hashed(EVAL_RESULT, text) == id_:
        return True
    return result_id(subject, eval_set, json.loads(metrics), json.loads(slices), report) == id_


def policy(sha256: str, policy_json: str) -> bool:
    if hashlib.sha256(policy_json.encode("utf-8")).hexdigest() == sha256:
        return True
    return digest(json.loads(policy_json)) == sha256


RECIPES = (
    IdRecipe("model_versions", ("id", "tuple_json"), version),
    IdRecipe("snapshots", ("id", "tree_sha256"), snapshot),
    IdRecipe("transforms", ("id", "record_json"), transform),
    IdRecipe("systems", ("id", "components_json"), system),
    IdRecipe(
        "eval_results",
        ("id", "subject_id", "eval_set_id", "metrics_json", "slices_json", "report_sha256"),
        result,
    ),
    IdRecipe("gate_policies", ("sha256", "policy_json"), policy),
)
