"""MLflow's equivalent of one registration (a run with 10 params, a 1 MiB artifact and a
registered model version), timed per version; run by bench_register.py, in its own process when
MLflow lives in another virtualenv (``make bench-peers`` puts it in .peers/mlflow).

    python benchmarks/peer_mlflow_register.py DIR [--n 50]   # prints one JSON line
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def bench_mlflow(tmp: Path, n: int) -> tuple[float, str]:
    """(ms per version, mlflow version)."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    # an explicit artifact location: the default is ./mlruns in the caller's working directory
    MlflowClient().create_experiment("bench", artifact_location=(tmp / "mlruns").as_uri())
    mlflow.set_experiment("bench")
    client = MlflowClient()
    client.create_registered_model("bench")
    arts = []
    for i in range(n + 2):
        p = tmp / f"mlflow-{i}.bin"
        p.write_bytes(os.urandom(1 << 20))
        arts.append(p)
    os.sync()  # as for mledger: don't time the sources' writeback
    params = {f"p{j}": j * 0.1 for j in range(10)}

    def one(i: int) -> None:
        with mlflow.start_run() as run:
            mlflow.log_params({**params, "i": i})
            mlflow.log_artifact(str(arts[i]))
            source = f"{run.info.artifact_uri}/{arts[i].name}"
        client.create_model_version("bench", source, run_id=run.info.run_id)

    for i in range(2):
        one(n + i)
    t0 = time.perf_counter()
    for i in range(n):
        one(i)
    return (time.perf_counter() - t0) / n * 1000, str(mlflow.__version__)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="an empty directory to work in")
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    ms, version = bench_mlflow(args.dir, args.n)
    print(json.dumps({"ms_per_version": ms, "version": version}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
