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
    assert "chain intact" in out
    assert (
        out.count("(exit") == 1 and "delay@3 FAILS the production gate" in out and "(exit 1)" in out
    )
    assert "rolled back production: delay@4 → delay@2" in out
    assert (tmp_path / "demo" / ".mledger" / "ledger.db").exists()
