from typer.testing import CliRunner

from modelledger.cli.app import app


def test_demo_plays_to_the_end(tmp_path, monkeypatch):
    monkeypatch.setenv("MLEDGER_USER", "demo")
    result = CliRunner().invoke(
        app, ["demo", "--dir", str(tmp_path / "demo")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "registered delay@1" in out and "already registered as delay@1" in out
    assert "irreproducible — training table overwritten in place" in out
    assert "chain intact" in out and "(exit" not in out
    assert (tmp_path / "demo" / ".mledger" / "ledger.db").exists()
