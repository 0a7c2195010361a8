"""One process of a distributed keras-tuner search over kreg's `RegularizationHyperModel`: the chief or a worker.

keras-tuner's distributed mode is configured by three environment variables, read when the tuner is built:

- `KERASTUNER_TUNER_ID`: `"chief"` for the process holding the oracle, a unique id (`"tuner0"`, `"tuner1"`, ...)
  for each worker;
- `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`: where the chief's gRPC oracle service listens and the
  workers connect.

Every process runs this same script with the same arguments. The chief serves the oracle (its `search()` blocks
until the workers have run every trial) and then writes a JSON summary of the search to `--summary`; a worker asks
the chief for trials, trains them and reports their results, appending each trial id it runs to
`<--directory>/ran_<tuner id>.txt` (what `tests/tuning/test_distributed.py` checks: every trial runs exactly once).

Run it by hand from the repository root (`export PYTHONPATH=$PWD` unless kreg is installed), on one machine or
several (see `docs/distributed_tuning.md`):

    KERASTUNER_TUNER_ID=chief  KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \
        python tests/tuning/distributed_worker.py --directory /tmp/kt --summary /tmp/kt/summary.json &
    KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \
        python tests/tuning/distributed_worker.py --directory /tmp/kt &
    KERASTUNER_TUNER_ID=tuner1 KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \
        python tests/tuning/distributed_worker.py --directory /tmp/kt
"""

import argparse
import json
import os
import sys

import keras
import keras_tuner
import numpy as np

from kreg.tuning import RegularizationHyperModel, SearchSpace


def make_data(seed=0, n=240, features=16):
    """A seeded two-class problem (a noisy linear rule), split 3:1 into training and validation data."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=features)
    y = (x @ w + 0.5 * rng.normal(size=n) > 0).astype("int32")
    split = 3 * n // 4
    return (x[:split], y[:split]), (x[split:], y[split:])


def build_model(reg):
    """An MLP using what kreg sampled: the kernel regularizer on its hidden layer, then dropout."""
    model = keras.Sequential(
        [
            keras.Input((16,)),
            reg.dense(32, activation="relu"),
            reg.dropout(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def search_space():
    """L2 or (proximal) L1 with log-uniform strengths, and a dropout rate."""
    return SearchSpace(penalty=("l2", "l1"), l2=(1e-5, 1e-1), l1=(1e-5, 1e-1), constraint=("none",), dropout=(0.0, 0.5))


class LoggedRandomSearch(keras_tuner.RandomSearch):
    """`RandomSearch` that appends the id of every trial it runs to `<directory>/ran_<tuner id>.txt`."""

    def run_trial(self, trial, *args, **kwargs):
        with open(os.path.join(self.ran_dir, f"ran_{self.tuner_id}.txt"), "a") as f:
            f.write(f"{trial.trial_id}\n")
        return super().run_trial(trial, *args, **kwargs)


def summarize(tuner):
    """The search as the chief's oracle holds it: every trial, its status, values and score, and the best trial."""
    oracle = tuner.oracle
    trials = {
        trial_id: {
            "status": trial.status,
            "values": {k: v for k, v in trial.hyperparameters.values.items()},
            "score": trial.score,
            "val_loss": trial.metrics.get_best_value("val_loss") if trial.metrics.exists("val_loss") else None,
        }
        for trial_id, trial in oracle.trials.items()
    }
    best = oracle.get_best_trials(1)
    return {
        "tuner_id": tuner.tuner_id,
        "backend": keras.backend.backend(),
        "max_trials": oracle.max_trials,
        "trials": trials,
        "best_trial_id": best[0].trial_id if best else None,
        "best_values": dict(best[0].hyperparameters.values) if best else None,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True, help="the tuner directory (shared by chief and workers here)")
    parser.add_argument("--project-name", default="distributed")
    parser.add_argument("--max-trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--summary", help="chief only: where to write the JSON summary of the search")
    args = parser.parse_args(argv)
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        if name not in os.environ:
            parser.error(f"set {name} (see the module docstring)")

    os.makedirs(args.directory, exist_ok=True)
    tuner = LoggedRandomSearch(
        RegularizationHyperModel(build_model, search_space()),
        objective="val_loss",
        max_trials=args.max_trials,
        seed=args.seed,
        directory=args.directory,
        project_name=args.project_name,
        overwrite=False,  # the chief and the workers share the directory: none may wipe it
    )
    tuner.ran_dir = args.directory
    is_chief = os.environ["KERASTUNER_TUNER_ID"] == "chief"
    if is_chief:
        tuner.search()  # serves the oracle until every trial is done and every worker has been told to stop
        summary = summarize(tuner)
        if args.summary:
            with open(args.summary + ".tmp", "w") as f:
                json.dump(summary, f, indent=1, default=str)
            os.replace(args.summary + ".tmp", args.summary)
        print(json.dumps(summary, default=str))
    else:
        (x, y), validation = make_data(args.seed)
        keras.utils.set_random_seed(args.seed)
        tuner.search(x, y, validation_data=validation, epochs=args.epochs, batch_size=32, verbose=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
