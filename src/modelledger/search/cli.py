"""``mledger model search``: mounted on the ``model`` group by ``cli.root`` (the models
capability sits below evals and cannot import this)."""

from __future__ import annotations

import typer

from modelledger.console.options import JsonOpt, SinceOpt, UntilOpt
from modelledger.console.output import console, emit_json, id_shown, table, when


def search(
    name: str | None = typer.Argument(None, help="Model name; * matches any run of characters."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="KEY=VALUE, KEY!=VALUE, KEY>=N … or KEY=LOW..HIGH (repeatable)."
    ),
    metric: list[str] = typer.Option(
        [], "--metric", "-m", help="Score on the eval set: auc>=0.8, loss<0.3 (repeatable)."
    ),
    eval_set: str | None = typer.Option(
        None,
        "--eval-set",
        "-e",
        help="Eval set the metrics are judged on: ds-… or a name (its newest snapshot). "
        "Alone: versions scored on it.",
    ),
    data: list[str] = typer.Option(
        [], "--data", "-d", help="Used this snapshot (any role): ds-… or a snapshot name."
    ),
    tag: list[str] = typer.Option([], "--tag", "-t", help="KEY, KEY=VALUE or KEY!=VALUE."),
    by: str | None = typer.Option(None, "--by", help="Registered by this user."),
    since: str | None = SinceOpt,
    until: str | None = UntilOpt,
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = JsonOpt,
) -> None:
    """Find versions by name, hyperparameter, score, data, tag, registrant and time.

    Every filter given narrows; newest first.

    mledger model search delay -p lr=0.01..0.1 -m 'auc>=0.8' -e holdout

    mledger model search --tag stage=candidate --since 7d
    """
    from modelledger.ledger.home import read
    from modelledger.search.conditions import Search
    from modelledger.search.find import Results
    from modelledger.search.find import search as run

    asked = {
        "param": param, "metric": metric, "eval_set": eval_set, "data": data, "tag": tag,
        "by": by, "since": since, "until": until, "limit": limit,
    }  # fmt: skip
    query = Search.asked(name, **asked)  # refused here, before any request
    answer = read("/search", lambda ledger: run(ledger, query).to_json(), {"name": name, **asked})
    results = Results.from_json(answer)
    if as_json:
        emit_json([f.to_json() for f in results.found])
        return
    if not results.found:
        typer.echo("no versions match")
        return
    on = f"@{results.eval_set['name']}" if results.eval_set else ""
    columns = ["version", "id", "registered", "by"]
    tagged = any(f.tags for f in results.found)
    columns += results.params + [f"{m}{on}" for m in results.metrics] + (["tags"] if tagged else [])
    t = table(*columns)
    for f in results.found:
        v = f.version
        cells = [v.label, id_shown(v.id), when(v.created_at), v.registered_by]
        cells += [f.params.get(k, "") for k in results.params]
        cells += [f"{f.metrics[m]:g}" if m in f.metrics else "" for m in results.metrics]
        if tagged:
            cells.append(", ".join(f"{k}={val}" for k, val in f.tags.items()))
        t.add_row(*cells)
    console().print(t)
    if results.more:
        typer.echo(f"(the newest {len(results.found)} shown; --limit for more)", err=True)
