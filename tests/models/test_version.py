from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelledger.core.errors import InvalidInput
from modelledger.models.version import (
    ArtifactRef,
    CodeRef,
    DataRef,
    VersionTuple,
    assess_reproducibility,
    validate_base_model,
)

A = "a" * 64
B = "b" * 64
DS1 = "ds-" + "1" * 64
DS2 = "ds-" + "2" * 64


def base_tuple(**kw):
    fields = dict(
        name="delay",
        artifact=ArtifactRef("blob", A, 10),
        code=CodeRef(kind="git", repo="https://example.com/r.git", commit="c" * 40),
        data=(DataRef(DS1, "train"), DataRef(DS2, "val")),
        lock_sha256=B,
        params={"lr": 0.1, "depth": 6},
        seed=7,
    )
    fields.update(kw)
    return VersionTuple(**fields)


def test_same_tuple_same_id_regardless_of_order():
    a = base_tuple()
    b = base_tuple(
        data=(DataRef(DS2, "val"), DataRef(DS1, "train")), params={"depth": 6, "lr": 0.1}
    )
    assert a.id == b.id
    assert a.id.startswith("mv-") and len(a.id) == 67


@pytest.mark.parametrize(
    "change",
    [
        {"name": "other"},
        {"artifact": ArtifactRef("blob", B, 10)},
        {"artifact": ArtifactRef("tree", A, 10)},
        {"code": CodeRef(kind="git", repo="https://example.com/r.git", commit="d" * 40)},
        {
            "code": CodeRef(
                kind="git",
                repo="https://example.com/r.git",
                commit="c" * 40,
                dirty=True,
                diff_sha256=A,
            )
        },
        {"code": None},
        {"data": (DataRef(DS1, "train"),)},
        {"data": (DataRef(DS1, "finetune"), DataRef(DS2, "val"))},
        {"lock_sha256": A},
        {"params": {"lr": 0.2, "depth": 6}},
        {"seed": 8},
        {"preprocessing": "sha256:" + A},
        {"base_model": "mv-" + A},
        {"parent": "mv-" + B},
    ],
)
def test_every_tuple_field_is_part_of_identity(change):
    assert base_tuple(**change).id != base_tuple().id


def test_artifact_size_is_recorded_but_not_identity():
    assert base_tuple(artifact=ArtifactRef("blob", A, 999)).id == base_tuple().id


@given(
    st.dictionaries(
        st.text(min_size=1),
        st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        max_size=8,
    )
)
def test_json_round_trip_keeps_identity(params):
    t = base_tuple(params=params)
    assert VersionTuple.from_json(t.to_json()).id == t.id


def test_reproducibility():
    assert assess_reproducibility(base_tuple(), None).status == "reproducible"
    no_code = assess_reproducibility(base_tuple(code=None), None)
    assert no_code.status == "not reproducible" and "no code reference" in no_code.reasons[0]
    dirty = replace(base_tuple().code, dirty=True)
    assert "dirty" in assess_reproducibility(base_tuple(code=dirty), None).reasons[0]
    declared = assess_reproducibility(base_tuple(), "data overwritten")
    assert declared.status == "irreproducible" and declared.reasons == ("data overwritten",)


def test_data_ref_parsing():
    assert DataRef.parse(DS1) == DataRef(DS1, "train")
    assert DataRef.parse(f"{DS1}:finetune") == DataRef(DS1, "finetune")
    with pytest.raises(InvalidInput, match="role"):
        DataRef.parse(f"{DS1}:bogus")
    with pytest.raises(InvalidInput, match="snapshot id"):
        DataRef.parse("mydata.csv")


def test_base_model_must_be_pinned():
    assert validate_base_model("mv-" + A) == "mv-" + A
    assert validate_base_model(f"llama-3-8b@rev42#{A}")
    assert validate_base_model(f"org/llama@main#sha256:{A}")
    for floating in ("llama-3-8b", "llama@latest", f"llama#{A}"):
        with pytest.raises(InvalidInput, match="floating"):
            validate_base_model(floating)
