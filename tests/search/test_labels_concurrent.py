"""Two processes relabelling one version at once: the events still tell the whole story, each
change's old value the previous change's new, and the tag ends as the last event says."""

import itertools
import os
import subprocess
import sys

from tests.conftest import jrun, write

ROUNDS = 6


def _writer(project, who):
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from modelledger.cli.app import app\n"
        "runner = CliRunner()\n"
        f"for i in range({ROUNDS}):\n"
        f"    r = runner.invoke(app, ['model', 'tag', 'm@1', 'stage={who}-' + str(i)])\n"
        "    assert r.exit_code == 0, r.output\n"
    )
    env = {**os.environ, "MLEDGER_USER": who}
    return subprocess.Popen([sys.executable, "-c", script], cwd=project, env=env)


def test_concurrent_tag_changes_chain(ledger_cli, project):
    cli = ledger_cli
    art = write(project / "m.bin", b"weights")
    jrun(cli, "model", "register", "m", "-a", str(art), "--code-ref", "x@1")
    writers = [_writer(project, who) for who in ("alice", "bob")]
    for w in writers:
        assert w.wait(timeout=120) == 0
    log = jrun(cli, "audit", "log", "--kind", "model.tag", "--limit", "100")
    changes = [(e["payload"]["old"], e["payload"]["new"]) for e in log]
    assert len(changes) == 2 * ROUNDS  # every value differs from the one before: all logged
    assert changes[0][0] is None
    for (_, new), (old, _) in itertools.pairwise(changes):
        assert old == new
    assert jrun(cli, "model", "show", "m@1")["tags"] == {"stage": changes[-1][1]}
    assert jrun(cli, "audit", "verify")["ok"] is True
