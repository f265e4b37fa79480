"""The bounds behind the CLI's bad-input refusals (tests/cli/test_bad_input.py), unit by unit."""

from __future__ import annotations

import json
import os
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelledger.core.canonical import canonical_json
from modelledger.core.errors import InvalidInput
from modelledger.core.files import check_inputs, read_bytes, read_text
from modelledger.core.names import validate_name
from modelledger.core.params import parse_pairs, parse_value
from modelledger.core.parsing import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    load_mapping,
    loads_json,
    loads_yaml,
)
from modelledger.core.refs import MAX_NUMBER, NameNumber, parse_ref
from modelledger.releases.environment import validate_env_name

# --- names -------------------------------------------------------------------------------------

_ALLOWED = string.ascii_letters + string.digits + "._-"
_GOOD = st.text(alphabet=_ALLOWED, min_size=0, max_size=127).map(lambda rest: "m" + rest)


@given(_GOOD.filter(lambda n: ".." not in n))
def test_a_name_of_allowed_characters_is_accepted(name):
    assert validate_name(name) == name


@given(_GOOD, st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), st.booleans())
def test_a_control_or_space_character_anywhere_is_refused(name, bad, at_end):
    spoilt = name + bad if at_end else name[:1] + bad + name[1:]
    with pytest.raises(InvalidInput, match="invalid model name"):
        validate_name(spoilt)


@pytest.mark.parametrize("name", ["churn\n", "churn\r\n", "\nchurn", "churn\x00"])
def test_a_trailing_newline_is_refused_everywhere_a_name_is_checked(name):
    with pytest.raises(InvalidInput):
        validate_name(name, "dataset name")
    with pytest.raises(InvalidInput):
        validate_env_name(name)


# --- references --------------------------------------------------------------------------------


def test_version_numbers_stop_at_the_sql_integer():
    assert parse_ref(f"churn@{MAX_NUMBER}") == NameNumber("churn", MAX_NUMBER)
    assert parse_ref("churn@007") == NameNumber("churn", 7)
    assert parse_ref("churn@" + "0" * 50 + "1") == NameNumber("churn", 1)
    for number in (str(MAX_NUMBER + 1), "9" * 23, "9" * 5000):
        with pytest.raises(InvalidInput, match="version number out of range") as info:
            parse_ref(f"churn@{number}")
        assert len(str(info.value)) < 200  # a long reference is cut, not echoed whole


# --- JSON and YAML bounds ----------------------------------------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_the_bound_is_read_beyond_it_refused():
    assert loads_json(_nested(MAX_DEPTH), "x") is not None
    assert loads_yaml(_nested(MAX_DEPTH), "x") is not None
    for text in (_nested(MAX_DEPTH + 1), _nested(100_000)):
        with pytest.raises(InvalidInput, match="nested more than 100 levels deep"):
            loads_json(text, "x")
        with pytest.raises(InvalidInput, match="nested more than 100 levels deep"):
            loads_yaml(text, "x")


def test_json_syntax_errors_are_left_to_the_caller():
    with pytest.raises(json.JSONDecodeError):
        loads_json("{", "x")
    assert parse_value("not json") == "not json"
    assert parse_value("[1, 2]") == [1, 2]


def test_integers_are_kept_exactly_up_to_the_bound():
    n = int("9" * MAX_INT_DIGITS)
    assert loads_json(str(n), "x") == n
    assert loads_json(str(-n), "x") == -n
    assert loads_yaml(f"a: {n}", "x") == {"a": n}
    assert canonical_json({"a": n}) == f'{{"a":{n}}}'.encode()
    assert parse_pairs([f"a={n}"]) == {"a": n}
    assert loads_yaml("a: 0x" + "f" * 3000, "x") == {"a": int("f" * 3000, 16)}


@pytest.mark.parametrize(
    "text",
    ["9" * (MAX_INT_DIGITS + 1), "-" + "9" * 5000, '{"a": [' + "1" * 5000 + "]}"],
)
def test_longer_integers_are_refused_in_json(text):
    with pytest.raises(InvalidInput, match="digits allowed"):
        loads_json(text, "x")
    with pytest.raises(InvalidInput, match="digits allowed"):
        parse_pairs([f"a={text}"])


@pytest.mark.parametrize(
    "text", ["a: " + "9" * 5000, "a: -1_" + "0" * 5000, "a: 0x" + "f" * 4000, "a: 0b" + "1" * 15000]
)
def test_longer_integers_are_refused_in_yaml(text):
    with pytest.raises(InvalidInput, match="digits allowed"):
        loads_yaml(text, "x")


def test_integers_beyond_the_bound_from_the_python_api_are_refused_when_written():
    # Python's default limit is the same bound; canonical JSON says so in one line
    with pytest.raises(InvalidInput, match="cannot be written as JSON"):
        canonical_json({"a": 10**5000})


def test_yaml_aliases_are_bounded():
    assert loads_yaml("base: &b {x: 1}\nother: {<<: *b, y: 2}\n", "x")["other"] == {"x": 1, "y": 2}
    few = "x: &x [1, 2]\n" + "".join(f"k{i}: *x\n" for i in range(MAX_ALIASES))
    assert len(loads_yaml(few, "x")) == MAX_ALIASES + 1
    with pytest.raises(InvalidInput, match=f"more than {MAX_ALIASES} YAML aliases"):
        loads_yaml(few + "last: *x\n", "x")
    laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
    with pytest.raises(InvalidInput, match="aliases expand to more than"):
        loads_yaml(laughs, "x")
    with pytest.raises(InvalidInput, match="refers to the value that holds it"):
        loads_yaml("a: &a [1, *a]\n", "x")


def test_aliases_cannot_stack_nesting_beyond_the_bound():
    # each alias is shallow where it stands, but expanded they nest 50 levels per step
    doc = "a0: &a0 " + _nested(50) + "\n"
    for i in range(1, 4):
        doc += f"a{i}: &a{i} " + "[" * 49 + f"*a{i - 1}" + "]" * 49 + "\n"
    with pytest.raises(InvalidInput, match="nested more than 100"):
        loads_yaml(doc, "x")


def test_text_that_is_not_unicode_is_refused_when_written():
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        canonical_json({"a": json.loads('"\\ud800"')})
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInput, match="nested too deeply"):
        canonical_json(deep)


# --- files -------------------------------------------------------------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # opened without blocking: were it not, this test would hang here (there is no writer)
    with pytest.raises(InvalidInput, match=re.escape(f"--x {fifo}: a FIFO (named pipe)")):
        read_bytes(fifo, "--x")
    with pytest.raises(InvalidInput, match="a FIFO"):
        check_inputs([fifo], "--x")


def test_read_bytes_refusals(tmp_path):
    with pytest.raises(InvalidInput, match="a character device"):
        read_bytes("/dev/zero", "--x")
    with pytest.raises(InvalidInput, match="a directory, not a regular file"):
        read_bytes(tmp_path, "--x")
    with pytest.raises(InvalidInput, match="no such file"):
        read_bytes(tmp_path / "missing", "--x")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 11)
    assert read_bytes(big, "--x", limit=11) == b"x" * 11
    with pytest.raises(InvalidInput, match="big: 11 bytes is more than the 10 bytes"):
        read_bytes(big, "--x", limit=10)
    (tmp_path / "latin1").write_bytes(b"caf\xe9")
    with pytest.raises(InvalidInput, match="not UTF-8 text"):
        read_text(tmp_path / "latin1", "--x")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(InvalidInput, match="symlink loop"):
        read_bytes(loop, "--x")


def test_load_mapping_names_the_file(tmp_path):
    doc = tmp_path / "card.yaml"
    doc.write_text("- 1\n")
    with pytest.raises(InvalidInput, match=re.escape(f"--card {doc}: expected a mapping")):
        load_mapping(doc, "--card")
    doc.write_text("a: 1\n")
    assert load_mapping(doc, "--card") == {"a": 1}


def test_check_inputs(tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "w.bin").write_bytes(b"w")
    (tree / "link").symlink_to("sub/w.bin")
    (tree / "dangling").symlink_to("nowhere")  # the store's rule decides, as before
    check_inputs([tree, tree / "sub" / "w.bin"])
    (tree / "sub" / "a").symlink_to("b")
    (tree / "sub" / "b").symlink_to("a")
    with pytest.raises(InvalidInput, match="symlink loop"):
        check_inputs([tree], "--artifact")
    os.remove(tree / "sub" / "a")
    bad = tree / os.fsdecode(b"\xff")
    bad.write_bytes(b"w")
    with pytest.raises(InvalidInput, match=re.escape("\\xff: the file name is not valid UTF-8")):
        check_inputs([tree])
    with pytest.raises(InvalidInput, match="no such file or directory"):
        check_inputs([tmp_path / "missing"])
