"""Every public kreg object survives `.keras` saving: found by walking the public namespaces, so none is forgotten.

The walk (`public_classes`) imports every public module of kreg and collects the classes of its `__all__` that Keras
saves or serializes (layers, regularizers, constraints, schedules, callbacks, and anything registered under
`kreg>`). Each one must be

- in `EXAMPLES` (constructor arguments): its `get_config`/`from_config` and
  `keras.saving.serialize_keras_object`/`deserialize_keras_object` round trips are checked;
- covered by a model in `RECIPES` (its registered name appears in a saved model's config), unless it is in
  `CONFIG_ONLY` (callbacks and data-side layers, which are not part of a saved model), or in `EXCLUDED` (base
  classes and the binding's wrappers) with the reason.

A new class with no entry fails `test_every_public_class_has_a_recipe`. For each recipe the parent process builds the
model, trains two steps with kreg's binding, saves it, records its predictions and penalties, then trains two more
steps. A fresh process (one per backend, all recipes in one go) loads every file with `keras.saving.load_model`
without `custom_objects`, and repeats: identical predictions, penalties, configs (so the L2-SP references), weights
(so the spectral-normalization vectors, the layers' step counters and seed states) and, after the two further
steps, identical losses and weights (so the same penalties, proximal zeros and constraint projections).
"""

import importlib
import inspect
import json
import os
import pickle
import pkgutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import kreg
from kreg import constraints as C
from kreg import layers as L
from kreg import regularizers as R
from kreg import schedules as S

# ------------------------------------------------------------------------------------------------------- the walk

SAVED_BASES = (
    keras.layers.Layer,
    keras.regularizers.Regularizer,
    keras.constraints.Constraint,
    keras.optimizers.schedules.LearningRateSchedule,
    keras.callbacks.Callback,
)


def public_modules():
    """kreg and every module under it whose dotted path has no part starting with `_`."""
    modules = [kreg]
    for info in pkgutil.walk_packages(kreg.__path__, "kreg."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            modules.append(importlib.import_module(info.name))
    return modules


def public_classes():
    """`{class name: class}` of the kreg classes in a public `__all__` that Keras saves or serializes."""
    found = {}
    for module in public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if not inspect.isclass(obj) or not obj.__module__.startswith("kreg"):
                continue
            registered = keras.saving.get_registered_name(obj).startswith("kreg>")
            if registered or issubclass(obj, SAVED_BASES):
                found[obj.__name__] = obj
    return found


# ---------------------------------------------------------------------------------------------- the tables

#: Not saved on their own, with the reason.
EXCLUDED = {
    "Regularizer": "abstract base of the regularizers (penalty() raises NotImplementedError)",
    "Schedule": "abstract base of the schedules (value() raises NotImplementedError)",
    "ScheduledLayer": "base class of the random layers, no computation of its own",
    "BindingCallback": "base class of the kreg callbacks",
    "BoundRegularizer": "the binding's wrapper, serialized as the regularizer it wraps (test_binding_wrappers_...)",
    "ProximalConstraint": "the binding's wrapper, serialized as the constraint it wraps (test_binding_wrappers_...)",
    "BoundSpectralNorm": "the binding's wrapper, serialized as the constraint it wraps (test_binding_wrappers_...)",
    "PruningCallback": "kreg.tuning's per-trial callback, holds a live pruner and trial (not serializable config)",
    "TrialRecorder": "kreg.tuning's per-trial callback, holds a live trial store (not serializable config)",
}

#: Not part of a saved model: their config round trips only.
CONFIG_ONLY = {
    "EarlyStopping",
    "AdaptiveEarlyStopping",
    "TrainingBinding",
    "ProximalStep",
    "RegularizationReport",
    "MixUp",
    "CutMix",
    "MixUpCutMix",
    "LabelSmoothing",
}

#: Constructor calls for the config round trips: one or more instances per class.
EXAMPLES = {
    "L1": lambda: [R.L1(0.01), R.L1(S.Linear(0.0, 0.1, steps=10), proximal=True)],
    "L2": lambda: [R.L2(0.02), R.L2(S.Cosine(0.1, 0.0, steps=5, delay=1))],
    "ElasticNet": lambda: [R.ElasticNet(0.01, 0.02, proximal=True)],
    "GroupLasso": lambda: [R.GroupLasso(0.05, axis=0, proximal=True)],
    "Orthogonal": lambda: [R.Orthogonal(0.01, mode="srip", iterations=4), R.Orthogonal(0.1, mode="dso")],
    "L2SP": lambda: [R.L2SP(0.1), R.L2SP(0.1, reference=np.arange(6, dtype="float32").reshape(2, 3))],
    "MaxNorm": lambda: [C.MaxNorm(2.0), C.MaxNorm(0.5, axis=[0, 1])],
    "SpectralNorm": lambda: [C.SpectralNorm(0.9), C.SpectralNorm(1.0, mode="conv", input_size=[8, 8])],
    "Constant": lambda: [S.Constant(0.3)],
    "Linear": lambda: [S.Linear(0.0, 1.0, steps=10, delay=2)],
    "Cosine": lambda: [S.Cosine(1.0, 0.0, steps=10)],
    "Step": lambda: [S.Step([2, 5], [0.1, 0.01, 0.0])],
    "GaussianNoise": lambda: [L.GaussianNoise(0.1, seed=1), L.GaussianNoise(S.Linear(0.2, 0.0, steps=10), seed=2)],
    "MultiplicativeNoise": lambda: [L.MultiplicativeNoise(0.2, seed=1)],
    "UniformNoise": lambda: [L.UniformNoise(0.1, seed=1)],
    "DropPath": lambda: [L.DropPath(0.3, seed=1), L.DropPath(S.Linear(0.0, 0.5, steps=4), seed=1)],
    "DropBlock1D": lambda: [L.DropBlock1D(0.2, block_size=2, seed=1)],
    "DropBlock2D": lambda: [L.DropBlock2D(0.2, block_size=3, data_format="channels_last", seed=1)],
    "ConcreteDropout": lambda: [L.ConcreteDropout(keras.layers.Dense(4), init_rate=0.2, seed=1)],
    "SpectralNormalization": lambda: [L.SpectralNormalization(keras.layers.Dense(4), power_iterations=2)],
    "WeightNoise": lambda: [L.WeightNoise(keras.layers.Dense(4), 0.05, seed=1)],
    "DropConnect": lambda: [L.DropConnect(keras.layers.Dense(4), S.Step([3], [0.1, 0.3]), seed=1)],
    "FeatureMask": lambda: [importlib.import_module("kreg.layers.masking").FeatureMask(0.2, seed=1)],
    "SwapNoise": lambda: [importlib.import_module("kreg.layers.masking").SwapNoise(0.2, seed=1)],
    "TimeMask": lambda: [importlib.import_module("kreg.layers.masking").TimeMask(2, seed=1)],
    "FrequencyMask": lambda: [importlib.import_module("kreg.layers.masking").FrequencyMask(2, seed=1)],
    "MixUp": lambda: [importlib.import_module("kreg.layers.mixing").MixUp(0.4, seed=1)],
    "CutMix": lambda: [importlib.import_module("kreg.layers.mixing").CutMix(1.0, seed=1)],
    "MixUpCutMix": lambda: [importlib.import_module("kreg.layers.mixing").MixUpCutMix(seed=1)],
    "LabelSmoothing": lambda: [importlib.import_module("kreg.layers.mixing").LabelSmoothing(0.1)],
    "EarlyStopping": lambda: [kreg.callbacks.EarlyStopping(patience=3, min_delta_mode="rel", min_delta=0.01)],
    "AdaptiveEarlyStopping": lambda: [kreg.callbacks.AdaptiveEarlyStopping()],
    "TrainingBinding": lambda: [kreg.callbacks.TrainingBinding(verbose=1)],
    "ProximalStep": lambda: [kreg.callbacks.ProximalStep()],
    "RegularizationReport": lambda: [kreg.callbacks.RegularizationReport("logs/never-written", histogram_freq=2)],
}


def _vector(*layers, features=6):
    return [keras.Input((features,)), *layers, keras.layers.Dense(1, name="head")], (features,)


def _sequence(*layers):
    return [keras.Input((10, 4)), *layers, keras.layers.Flatten(), keras.layers.Dense(1, name="head")], (10, 4)


def _dense(**kwargs):
    return keras.layers.Dense(8, activation="tanh", **kwargs)


def _masking():
    return importlib.import_module("kreg.layers.masking")


#: Model builders: `(layers, input shape)`, several objects per model (one fresh process loads them all); the classes
#: each covers are read from its saved config.
RECIPES = {
    "dense_regularizers_and_constraints": lambda: _vector(
        _dense(kernel_regularizer=R.L1(0.01), bias_regularizer=R.L1(S.Constant(0.01))),
        _dense(name="l1_proximal", kernel_regularizer=R.L1(S.Linear(0.5, 1.0, steps=3), proximal=True)),
        _dense(
            kernel_regularizer=R.L2(S.Cosine(0.1, 0.01, steps=3)), activity_regularizer=R.L2(S.Step([2], [0.01, 0.1]))
        ),
        _dense(kernel_regularizer=R.ElasticNet(0.05, 0.01, proximal=True), kernel_constraint=C.MaxNorm(0.5)),
        _dense(name="group_lasso", kernel_regularizer=R.GroupLasso(10.0, proximal=True)),
        _dense(kernel_regularizer=R.Orthogonal(0.01, mode="srip", iterations=4)),
        _dense(kernel_regularizer=R.L2SP(0.5)),
        _dense(kernel_constraint=C.SpectralNorm(0.5)),
    ),
    "conv": lambda: (
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(3, 3, padding="same", kernel_regularizer=R.Orthogonal(0.01, mode="dso")),
            keras.layers.Conv2D(3, 3, padding="same", kernel_constraint=C.MaxNorm(0.3, axis=[0, 1, 2])),
            keras.layers.Conv2D(
                3, 3, padding="same", kernel_constraint=C.SpectralNorm(0.5, mode="conv", input_size=[8, 8])
            ),
            L.DropBlock2D(S.Linear(0.0, 0.3, steps=2), block_size=3, seed=1),
            keras.layers.Flatten(),
            keras.layers.Dense(1, name="head"),
        ],
        (8, 8, 2),
    ),
    "random_layers": lambda: _vector(
        L.GaussianNoise(S.Linear(0.2, 0.0, steps=4), seed=1),
        L.MultiplicativeNoise(0.2, seed=2),
        L.UniformNoise(0.1, seed=3),
        keras.layers.Dense(8),
        L.DropPath(S.Linear(0.1, 0.5, steps=4), seed=4),
        L.ConcreteDropout(
            keras.layers.Dense(8), init_rate=0.2, weight_regularizer=1e-3, dropout_regularizer=1e-2, seed=5
        ),
        L.SpectralNormalization(keras.layers.Dense(8)),
        L.WeightNoise(keras.layers.Dense(8), S.Linear(0.1, 0.0, steps=3), seed=6),
        L.DropConnect(keras.layers.Dense(8), 0.3, seed=7),
    ),
    "sequence": lambda: _sequence(L.DropBlock1D(0.3, block_size=2, seed=1)),
    "feature_masks": lambda: _vector(_masking().FeatureMask(0.3, seed=1), _masking().SwapNoise(0.3, seed=2)),
    "sequence_masks": lambda: _sequence(_masking().TimeMask(3, seed=1), _masking().FrequencyMask(2, seed=2)),
}

STEPS = 2  # training steps before saving, and again after
BATCH = 8


def recipe_data(shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((STEPS * BATCH,) + shape).astype("float32")
    y = rng.standard_normal((STEPS * BATCH, 1)).astype("float32")
    return x, y


# ------------------------------------------------------------------- what both processes measure, and the child

MEASURE = '''
import json, pickle, sys
import numpy as np
import keras
import kreg


def penalties(model, x):
    model(x, training=False)
    return [float(keras.ops.convert_to_numpy(loss)) for loss in model.losses]


def weights(model):
    """`{"<index> <name>": array}` in `model.weights` order (a loaded model's variable paths differ in their
    prefixes: a loaded Sequential's and a wrapped layer's variables do not carry the outer names)."""
    return {
        f"{i:02d} {w.path.split('/')[-1]}": np.asarray(keras.ops.convert_to_numpy(w)) for i, w in enumerate(model.weights)
    }


def measure(model, x, y):
    """What must be identical before and after loading, then after two more training steps."""
    out = {
        "predictions": np.asarray(keras.ops.convert_to_numpy(model(x, training=False))),
        "penalties": penalties(model, x),
        "weights": weights(model),
        "config": json.dumps(keras.saving.serialize_keras_object(model), sort_keys=True, default=str),
    }
    # kreg's random layers save their `SeedGenerator` states (Keras's own layers do not): the loaded model draws the
    # same masks as the original when training goes on.
    seeds = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    out["seed_states"] = [np.asarray(keras.ops.convert_to_numpy(v)) for v in seeds]
    history = model.fit(
        x, y, batch_size=len(x) // 2, epochs=1, shuffle=False, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()]
    )
    out["losses"] = history.history["loss"]
    out["weights_after"] = weights(model)
    out["penalties_after"] = penalties(model, x)
    return out
'''

CHILD = (
    MEASURE
    + """
import warnings
warnings.simplefilter("ignore")
jobs = pickle.load(open(sys.argv[1], "rb"))
results = {}
for name, (path, x, y) in jobs.items():
    try:
        model = keras.saving.load_model(path)  # no custom_objects
        results[name] = measure(model, x, y)
    except Exception as error:  # reported per recipe by the parent
        results[name] = {"error": f"{type(error).__name__}: {str(error)[-400:]}"}
pickle.dump(results, open(sys.argv[2], "wb"))
"""
)

_namespace = {}
exec(MEASURE, _namespace)
measure = _namespace["measure"]


def build(recipe):
    layers, shape = RECIPES[recipe]()
    model = keras.Sequential(layers, name=recipe)
    # Eager: tracing each small model would cost seconds; saving does not depend on it (the compile config is saved,
    # so the fresh process trains eagerly too).
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", run_eagerly=True)
    return model, recipe_data(shape)


def registered_names(config):
    """Every `kreg>` class name in a serialized config."""
    found = set()

    def visit(node):
        if isinstance(node, dict):
            name = node.get("registered_name")
            if isinstance(name, str) and name.startswith("kreg>"):
                found.add(name.removeprefix("kreg>"))
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(config)
    return found


# ------------------------------------------------------------------------------------------------------- tests


def test_every_public_class_has_a_recipe():
    classes = public_classes()
    assert {"L1", "MaxNorm", "GaussianNoise", "Linear", "EarlyStopping"} <= set(classes)  # the walk works
    missing = sorted(set(classes) - set(EXAMPLES) - set(EXCLUDED))
    assert not missing, f"public kreg classes with no entry in EXAMPLES (constructor arguments): {missing}"
    stale = sorted((set(EXAMPLES) | CONFIG_ONLY | set(EXCLUDED)) - set(classes))
    assert not stale, f"entries for classes the walk no longer finds: {stale}"
    covered = set()
    for recipe in RECIPES:
        layers, _ = RECIPES[recipe]()
        covered |= registered_names(keras.saving.serialize_keras_object(keras.Sequential(layers)))
    uncovered = sorted(set(classes) - covered - CONFIG_ONLY - set(EXCLUDED))
    assert not uncovered, f"public kreg classes in no saved model of RECIPES: {uncovered}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_config_and_serialization_round_trips(name):
    for obj in EXAMPLES[name]():
        assert type(obj).__name__ == name
        config = obj.get_config()
        json.dumps(config)  # plain Python values
        clone = type(obj).from_config(config)
        assert type(clone) is type(obj)
        assert clone.get_config() == config
        serialized = keras.saving.serialize_keras_object(obj)
        assert serialized["registered_name"] == f"kreg>{name}"
        revived = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
        assert type(revived) is type(obj)
        assert revived.get_config() == config


def test_binding_wrappers_serialize_as_what_they_wrap():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    step_source = kreg.step_source.StepSource(model.optimizer)
    wrapped = R.L1(S.Linear(0.0, 1.0, steps=3), proximal=True)
    bound = R.BoundRegularizer(wrapped, step_source)
    proximal = C.ProximalConstraint(wrapped, model.optimizer, step_source, C.MaxNorm(2.0))
    spectral = C.BoundSpectralNorm(C.SpectralNorm(0.7), keras.Variable(np.ones(3, "float32")))
    for wrapper, inner in ((bound, wrapped), (proximal, proximal.wrapped), (spectral, spectral.wrapped)):
        revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(wrapper))
        assert type(revived) is type(inner)
        assert revived.get_config() == inner.get_config()
    assert C.ProximalConstraint.from_config(C.ProximalConstraint(wrapped, model.optimizer).get_config()) is None


@pytest.mark.slow
def test_save_load_in_a_fresh_process_and_continue_training(tmp_path):
    parent, jobs = {}, {}
    for recipe in RECIPES:
        keras.utils.set_random_seed(1)
        model, (x, y) = build(recipe)
        model.fit(
            x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()]
        )
        path = str(tmp_path / f"{recipe}.keras")
        model.save(path)
        parent[recipe] = measure(model, x, y)
        jobs[recipe] = (path, x, y)
    with open(tmp_path / "jobs.pkl", "wb") as file:
        pickle.dump(jobs, file)
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "jobs.pkl"), str(tmp_path / "out.pkl")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "out.pkl", "rb") as file:
        child = pickle.load(file)
    failures = []
    for recipe, ours in parent.items():
        theirs = child[recipe]
        if "error" in theirs:
            failures.append(f"{recipe}: loading or training in a fresh process raised {theirs['error']}")
            continue
        try:
            assert theirs["config"] == ours["config"], "config (regularizers, constraints, L2-SP references)"
            np.testing.assert_array_equal(theirs["predictions"], ours["predictions"], err_msg="predictions")
            np.testing.assert_array_equal(theirs["penalties"], ours["penalties"], err_msg="penalties")
            assert sorted(theirs["weights"]) == sorted(ours["weights"])
            assert len(theirs["seed_states"]) == len(ours["seed_states"])
            for state, expected in zip(theirs["seed_states"], ours["seed_states"]):
                np.testing.assert_array_equal(state, expected, err_msg="a random layer's seed state")
            for key in ours["weights"]:
                np.testing.assert_array_equal(theirs["weights"][key], ours["weights"][key], err_msg=key)
            # Training continues the same way: losses, penalties and every weight after two more steps.
            np.testing.assert_allclose(theirs["losses"], ours["losses"], rtol=2e-5, err_msg="losses")
            np.testing.assert_allclose(theirs["penalties_after"], ours["penalties_after"], rtol=2e-5, atol=1e-6)
            for key in ours["weights_after"]:
                np.testing.assert_allclose(
                    theirs["weights_after"][key], ours["weights_after"][key], rtol=2e-5, atol=1e-6, err_msg=key
                )
        except AssertionError as error:
            failures.append(f"{recipe}: {str(error)[:600]}")
    assert not failures, "\n".join(failures)
    # The recipes really exercise what they claim: proximal zeros, the L2-SP reference, the spectral vectors.
    dense = parent["dense_regularizers_and_constraints"]
    assert any((w == 0).any() and not (w == 0).all() for w in dense["weights_after"].values())  # L1's exact zeros
    assert any(w.ndim == 2 and (w == 0).all(axis=0).any() for w in dense["weights_after"].values())  # a lasso group
    assert '"reference": {"base64"' in dense["config"]
    assert any(key.endswith(" u") for key in parent["random_layers"]["weights"])
