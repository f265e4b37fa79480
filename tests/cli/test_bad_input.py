"""Bad input through the CLI (issue 18, item 8): devices, FIFOs and sockets named as files,
oversized documents, YAML alias bombs, deeply nested JSON, 5,000-digit integers, symlink loops,
non-UTF-8 file names, ``NAME@<huge N>`` and names with control characters. Each gives exit 2,
one ``error:`` line on stderr, no traceback, and leaves the ledger as it was."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelledger.core.files import DOCUMENT_LIMIT, LOCK_LIMIT
from modelledger.core.parsing import MAX_INT_DIGITS
from modelledger.core.refs import MAX_NUMBER
from tests.conftest import jrun, write

DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "9" * 5000
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.fixture
def sqlite_cli(cli):
    """Input checks are the same on every backend: SQLite only, except where SQL is reached."""
    cli("init")
    return cli


@pytest.fixture
def fifo(project: Path) -> Iterator[Path]:
    """A FIFO with nobody writing to it. Should a reader block on it, a watchdog opens it for
    writing after a few seconds (the reader then sees end-of-file), so that a regression fails
    the test instead of hanging the suite."""
    path = project / "pipe"
    os.mkfifo(path)
    done = threading.Event()
    rescued: list[bool] = []

    def watchdog() -> None:
        if not done.wait(5):
            rescued.append(True)
            fd = os.open(path, os.O_WRONLY)  # unblocks the reader stuck in open()
            os.close(fd)

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    yield path
    done.set()
    thread.join(10)
    assert not rescued, "reading the FIFO blocked"


@pytest.fixture
def unix_socket(project: Path) -> Iterator[Path]:
    path = project / "sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    yield path
    sock.close()


def refused(cli, *args: str, says: str = "") -> str:
    """Run ``args``: exit 2, one ``error:`` line (holding ``says``), nothing written."""
    before = jrun(cli, "audit", "log")
    result = cli(*args, code=2)
    err = result.stderr
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err + result.stdout
    assert says in err, err
    assert jrun(cli, "audit", "log") == before
    assert jrun(cli, "model", "list") == []
    assert jrun(cli, "data", "list") == []
    return err


# every option that names a file to read; {} is where the bad file goes
FILE_OPTIONS = [
    ["model", "register", "m", "--artifact", "{}"],
    ["model", "register", "m", "--artifact", "m.bin", "--params-file", "{}"],
    ["model", "register", "m", "--artifact", "m.bin", "--lock", "{}"],
    ["model", "register", "m", "--artifact", "m.bin", "--card", "{}"],
    ["model", "card", "m@1", "--set", "{}"],
    ["data", "snapshot", "{}", "--name", "d"],
    ["data", "snapshot", "m.bin", "--name", "d", "--card", "{}"],
    ["data", "card", "ds-0000", "--set", "{}"],
    ["eval", "set", "create", "core", "{}"],
    ["eval", "record", "m@1", "--eval-set", "ds-0000", "--metrics", "{}"],
    ["eval", "record", "m@1", "--eval-set", "ds-0000", "--metric", "auc=1", "--report", "{}"],
    ["env", "policy", "production", "{}"],
    ["drift", "check", "production", "--policy", "{}"],
    ["drift", "explain", "production", "--version", "m@1", "--policy", "{}"],
    ["predictions", "import", "{}", "--env", "production"],
    ["feedback", "import", "{}"],
]
_IDS = [" ".join(a for a in args if a != "{}") for args in FILE_OPTIONS]


def _with(args: list[str], path: Path | str) -> list[str]:
    return [str(path) if a == "{}" else a for a in args]


@pytest.mark.parametrize("args", FILE_OPTIONS, ids=_IDS)
def test_a_device_is_refused_by_every_file_option(sqlite_cli, project, args):
    write(project / "m.bin", b"w")
    refused(sqlite_cli, *_with(args, "/dev/zero"))


@pytest.mark.parametrize("args", FILE_OPTIONS, ids=_IDS)
def test_a_fifo_is_refused_without_waiting_on_it(sqlite_cli, project, fifo, args):
    write(project / "m.bin", b"w")
    refused(sqlite_cli, *_with(args, fifo.name))


def test_the_refusal_says_what_the_file_is(sqlite_cli, project, fifo, unix_socket):
    art = ["model", "register", "m", "--artifact"]
    refused(sqlite_cli, *art, "/dev/zero", says="--artifact /dev/zero: a character device")
    refused(sqlite_cli, *art, fifo.name, says="a FIFO (named pipe), not a regular file")
    refused(sqlite_cli, *art, unix_socket.name, says="a socket, not a regular file")
    write(project / "m.bin", b"w")
    refused(sqlite_cli, *art, "m.bin", "--lock", "/dev/null", says="--lock /dev/null: a character")


@pytest.mark.parametrize("member", ["fifo", "socket", "device-link"])
def test_a_folder_holding_anything_but_files_and_folders_is_refused(
    sqlite_cli, project, fifo, unix_socket, member
):
    folder = project / "model"
    write(folder / "weights.bin", b"w")
    write(folder / "sub" / "config.json", b"{}")
    if member == "fifo":
        os.rename(fifo, folder / "sub" / "pipe")
    elif member == "socket":
        os.rename(unix_socket, folder / "sock")
    else:
        os.symlink("/dev/zero", folder / "zero")
    refused(sqlite_cli, "model", "register", "m", "--artifact", "model")
    refused(sqlite_cli, "data", "snapshot", "model", "--name", "d")
    refused(sqlite_cli, "eval", "set", "create", "core", "model")


@pytest.mark.parametrize(
    ("args", "limit"),
    [
        (["model", "register", "m", "--artifact", "m.bin", "--card", "big"], DOCUMENT_LIMIT),
        (["model", "register", "m", "--artifact", "m.bin", "--params-file", "big"], DOCUMENT_LIMIT),
        (["model", "register", "m", "--artifact", "m.bin", "--lock", "big"], LOCK_LIMIT),
        (["env", "policy", "production", "big"], DOCUMENT_LIMIT),
        (["drift", "check", "production", "--policy", "big"], DOCUMENT_LIMIT),
        (["data", "snapshot", "m.bin", "--name", "d", "--card", "big"], DOCUMENT_LIMIT),
    ],
    ids=["card", "params", "lock", "gate-policy", "drift-policy", "dataset-card"],
)
def test_documents_and_locks_are_read_with_a_size_bound(sqlite_cli, project, args, limit):
    write(project / "m.bin", b"w")
    with open(project / "big", "wb") as f:
        f.truncate(limit + 1)  # sparse: nothing is written
    err = refused(sqlite_cli, *args)
    assert f"big: {limit + 1:,} bytes is more than the {limit:,} bytes" in err


DOCUMENTS = [
    ["model", "register", "m", "--artifact", "m.bin", "--params-file", "doc"],
    ["model", "register", "m", "--artifact", "m.bin", "--card", "doc"],
    ["data", "snapshot", "m.bin", "--name", "d", "--card", "doc"],
    ["eval", "record", "m@1", "--eval-set", "ds-0000", "--metrics", "doc"],
    ["env", "policy", "production", "doc"],
    ["drift", "check", "production", "--policy", "doc"],
]
_DOC_IDS = ["params", "card", "dataset-card", "metrics", "gate-policy", "drift-policy"]


@pytest.mark.parametrize("args", DOCUMENTS, ids=_DOC_IDS)
@pytest.mark.parametrize(
    ("text", "says"),
    [
        (LAUGHS, "YAML aliases expand to more than"),
        ("a: &a [*a]\n", "a YAML alias refers to the value that holds it"),
        ("x: &x 1\n" + "".join(f"k{i}: *x\n" for i in range(101)), "more than 100 YAML aliases"),
        ('{"a": ' + DEEP + "}", "nested more than 100 levels deep"),
        ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 200)), "nested more than 100"),
        ('{"a": ' + HUGE_INT + "}", "an integer of 5,000 digits is longer than the 4,300"),
        ("a: " + HUGE_INT + "\n", "an integer of 5,000 digits"),
        ("a: 0x" + "f" * 4000 + "\n", "is longer than the 4,300 digits allowed"),
        ("a: [unclosed\n", "not valid JSON or YAML at line 2"),
    ],
    ids=[
        "laughs",
        "recursive",
        "aliases",
        "deep-json",
        "deep-yaml",
        "int",
        "yaml-int",
        "hex",
        "syntax",
    ],
)
def test_hostile_documents_give_one_error_line(sqlite_cli, project, args, text, says):
    write(project / "m.bin", b"w")
    write(project / "doc", text)
    err = refused(sqlite_cli, *args)
    assert says in err and "doc" in err


@pytest.mark.parametrize(
    "args",
    [
        ["model", "register", "m", "--artifact", "m.bin", "--param", f"lr={DEEP[:20_000]}"],
        ["model", "register", "m", "--artifact", "m.bin", "--param", f"n={HUGE_INT}"],
        ["eval", "record", "m@1", "--eval-set", "ds-0000", "--metric", f"auc={HUGE_INT}"],
        ["eval", "record", "m@1", "--eval-set", "ds-0000", "--metric", f"auc={DEEP[:20_000]}"],
        ["model", "search", "--param", f"n={HUGE_INT}"],
        ["model", "search", "--param", f"n>1{'0' * 400}"],
    ],
    ids=["deep-param", "long-param", "long-metric", "deep-metric", "long-search", "no-float"],
)
def test_json_given_in_an_option_is_bounded_too(sqlite_cli, project, args):
    write(project / "m.bin", b"w")
    refused(sqlite_cli, *args)


def test_an_integer_within_the_bound_is_kept_exactly(sqlite_cli, project):
    write(project / "m.bin", b"w")
    n = "9" * MAX_INT_DIGITS
    write(project / "params.json", f'{{"big": {n}}}')
    got = jrun(sqlite_cli, "model", "register", "m", "-a", "m.bin", "--params-file", "params.json")
    assert str(got["tuple"]["params"]["big"]) == n


def test_symlink_loops_give_one_error_line(sqlite_cli, project):
    folder = project / "model"
    write(folder / "weights.bin", b"w")
    os.symlink("b", folder / "a")
    os.symlink("a", folder / "b")
    os.symlink("self", project / "self")
    refused(sqlite_cli, "model", "register", "m", "--artifact", "model", says="symlink loop")
    refused(sqlite_cli, "data", "snapshot", "model", "--name", "d", says="symlink loop")
    refused(sqlite_cli, "eval", "set", "create", "core", "model", says="symlink loop")
    refused(sqlite_cli, "model", "register", "m", "--artifact", "self", says="self: symlink loop")
    refused(sqlite_cli, "data", "snapshot", "self", "--name", "d", says="symlink loop")
    write(project / "m.bin", b"w")
    refused(sqlite_cli, "model", "register", "m", "-a", "m.bin", "--card", "self", says="loop")


def test_non_utf8_file_names_are_refused_and_shown_escaped(sqlite_cli, project):
    # names are stored in JSON (the tree, the manifest), which has no form for such bytes
    bad = os.fsdecode(b"\xff.bin")
    write(project / bad, b"w")
    write(project / "tree" / "ok.bin", b"w")
    write(project / "tree" / "sub" / bad, b"w")
    says = r"\xff.bin: the file name is not valid UTF-8"
    refused(sqlite_cli, "model", "register", "m", "--artifact", bad, says=says)
    refused(sqlite_cli, "model", "register", "m", "--artifact", "tree", says=says)
    refused(sqlite_cli, "data", "snapshot", "tree", "--name", "d", says=says)
    refused(sqlite_cli, "data", "snapshot", bad, "--name", "d", says=says)
    refused(sqlite_cli, "eval", "set", "create", "core", "tree", says=says)


@pytest.mark.parametrize("number", [str(MAX_NUMBER + 1), "99999999999999999999999", HUGE_INT])
@pytest.mark.parametrize(
    "args",
    [
        ["model", "show", "churn@{}"],
        ["model", "register", "m", "--artifact", "m.bin", "--parent", "churn@{}"],
        ["promote", "churn@{}", "--to", "production"],
        ["model", "lineage", "churn@{}"],
    ],
    ids=["show", "parent", "promote", "lineage"],
)
def test_a_version_number_beyond_the_column_is_refused_on_every_backend(
    ledger_cli, project, args, number
):
    write(project / "m.bin", b"w")
    ledger_cli("env", "create", "production")
    err = refused(ledger_cli, *[a.replace("{}", number) for a in args])
    assert "version number out of range" in err


def test_promote_refuses_the_removed_approver_option_and_names_mledger_approve(sqlite_cli):
    # approvals are signatures now: a typed name would be no evidence of who approved
    err = refused(
        sqlite_cli, "promote", "churn@1", "--to", "production", "--approver", "x", says="--approver"
    )
    assert "mledger approve" in err


def test_the_largest_version_number_is_simply_not_found(ledger_cli):
    # at the edge of PostgreSQL's INTEGER: the query runs, and finds nothing
    refused(ledger_cli, "model", "show", f"churn@{MAX_NUMBER}", says="churn@2147483647")


@pytest.mark.parametrize("name", ["churn\n", "churn\r", "ch\turn", "churn\x00", "churn\x1b[31m"])
def test_names_with_control_characters_are_refused(sqlite_cli, project, name):
    write(project / "m.bin", b"w")
    refused(sqlite_cli, "model", "register", name, "--artifact", "m.bin", says="invalid model")
    refused(sqlite_cli, "data", "snapshot", "m.bin", "--name", name, says="invalid dataset")
    refused(sqlite_cli, "env", "create", name, says="invalid environment name")
    assert jrun(sqlite_cli, "env", "list") == []


def test_the_python_api_refuses_the_same(sqlite_cli, project, fifo):
    import modelledger as ml
    from modelledger.errors import InvalidInput

    write(project / "m.bin", b"w")
    for artifact in ("/dev/zero", fifo):
        with pytest.raises(InvalidInput, match="not a regular file"):
            ml.register_model("m", artifact=artifact)
    with pytest.raises(InvalidInput, match="not a regular file"):
        ml.register_model("m", artifact="m.bin", lock=fifo)
    with pytest.raises(InvalidInput, match="not a regular file"):
        ml.snapshot(fifo, "d")
    with pytest.raises(InvalidInput, match="not a regular file"):
        ml.create_eval_set("core", "/dev/zero")
    with pytest.raises(InvalidInput, match="invalid model name"):
        ml.register_model("m\n", artifact="m.bin")
    with pytest.raises(InvalidInput, match="out of range"):
        ml.get_version("m@99999999999999999999999")
    assert ml.list_versions() == []
