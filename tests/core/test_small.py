import pytest

from modelledger.core.errors import InvalidInput
from modelledger.core.names import validate_name
from modelledger.core.params import merge_params, parse_pairs
from modelledger.core.refs import IdPrefix, NameNumber, parse_ref
from modelledger.models.card import card_markdown, validate_card


@pytest.mark.parametrize("name", ["delay", "fraud-v2", "a.b_c", "X1"])
def test_good_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "a/b", "..", "a..b", "a\nb", "a\x00", "a b", "a@1", "-a", "x" * 129]
)
def test_bad_names(name):
    with pytest.raises(InvalidInput, match="invalid model name"):
        validate_name(name)


def test_param_pairs_are_typed():
    assert parse_pairs(
        ["lr=0.1", "depth=6", "opt=adam", "flag=true", "layers=[1,2]", "empty="]
    ) == {
        "lr": 0.1,
        "depth": 6,
        "opt": "adam",
        "flag": True,
        "layers": [1, 2],
        "empty": "",
    }
    assert parse_pairs(["expr=a=b"]) == {"expr": "a=b"}


@pytest.mark.parametrize("bad", ["lr", "=1", " =1"])
def test_param_without_key_or_equals(bad):
    with pytest.raises(InvalidInput, match="KEY=VALUE"):
        parse_pairs([bad])


def test_duplicate_param_refused():
    with pytest.raises(InvalidInput, match="twice"):
        parse_pairs(["a=1", "a=2"])


def test_flags_override_file_and_numbers_normalise():
    assert merge_params({"a": 1.0, "b": 2}, {"b": 3}) == {"a": 1, "b": 3}


def test_refs():
    assert parse_ref("mv-abcd") == IdPrefix("mv", "abcd")
    assert parse_ref("abcdef12") == IdPrefix(None, "abcdef12")
    assert parse_ref("fraud@7") == NameNumber("fraud", 7)
    assert parse_ref("mv-" + "a" * 64).complete
    for bad in ("mv-ab", "fraud@", "fraud@x y", "???"):
        with pytest.raises(InvalidInput):
            parse_ref(bad)


def test_card_validation_names_the_field():
    ok = validate_card({"method": {"type": "lora", "r": 16, "alpha": 32}, "intended_use": "delays"})
    assert ok["method"]["r"] == 16
    with pytest.raises(InvalidInput, match=r"'method\.r'"):
        validate_card({"method": {"type": "lora", "r": 0}})
    with pytest.raises(InvalidInput, match="'intnded_use'"):
        validate_card({"intnded_use": "typo"})
    with pytest.raises(InvalidInput, match="mapping"):
        validate_card(["not", "a", "mapping"])


def test_card_markdown():
    text = card_markdown("delay@1", {"intended_use": "ETA", "known_limitations": ["winter"]})
    assert "## Intended use" in text and "- winter" in text
