"""Predict an eval set with one model in this process, printing the outputs as one JSON line:
``python -m modelledger.reproduce.outputs LOADER PATH ROWS.json INPUTS.json``. Run by
`mledger reproduce` in the interpreter the model was rebuilt with, for the original and the
reproduced artifact alike (both verified before). Columns are ordered as serving orders them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from modelledger.models.loaders import check_interface, load_model
from modelledger.serving.runtime import LoadedModel, make_scorer


def main(argv: list[str]) -> int:
    loader, path, rows_file, inputs_file = argv
    rows = json.loads(Path(rows_file).read_text())
    inputs = json.loads(Path(inputs_file).read_text())
    model = load_model(loader, Path(path))
    loaded = LoadedModel("", path, loader, model, tuple(check_interface(model)))
    score = make_scorer(loaded, inputs)
    outputs = [prediction for prediction, _ in score(rows)]
    sys.stdout.write(json.dumps({"outputs": outputs}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
