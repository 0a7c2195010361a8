"""Bad input, table-driven, over every public kreg constructor (found by the walk of `tests/test_saving_walk.py`).

Each constructor argument gets the bad values of its kind (negative, NaN, inf, wrong type, out of range, bad axes,
bad choices); each must raise `ValueError` or `TypeError` whose message names the argument and the value
(`... Received: rate=nan`). A class found by the walk with no row, or a constructor argument with neither a kind
nor a reason in `UNCHECKED`, fails `test_every_public_constructor_argument_is_in_the_table`. Then wrong-rank and
wrong-shape inputs at call time: each raises a `ValueError` naming the object, never an internal backend error.
"""

import inspect
import math

import keras
import numpy as np
import pytest

import kreg
from kreg import constraints as C
from kreg import layers as L
from kreg import regularizers as R
from kreg import schedules as S
from tests.test_saving_walk import EXCLUDED, public_classes

NAN, INF = float("nan"), float("inf")

#: Bad values by kind of argument.
KINDS = {
    "non_negative": [-1.0, -1e-9, NAN, INF, -INF, "0.1", None, [0.1], True],
    "positive": [0.0, -1.0, NAN, INF, "1", None, True],
    "rate": [-0.1, 1.0, 1.5, NAN, INF, "0.1", None, True],
    "unit": [-0.1, 1.5, NAN, INF, "0.5", None, True],
    "open_unit": [0.0, 1.0, -0.5, NAN, INF, "0.5", None],
    "int>=1": [0, -1, 1.5, "2", None, True, NAN],
    "int>=0": [-1, 1.5, "2", None, True],
    "int>=1_or_none": [0, -1, 1.5, "2", True],
    "verbose": [-1, 3, 1.5, "1", None],
    "finite": [NAN, INF, -INF, "0", None],
    "seed": [1.5, "1", True, [1]],
    "bool": [1, 0, "yes", None],
    "axis": [1.5, "0", True, []],
    "layer": [None, "dense", 3, keras.layers.Dense],
    "strength": [-1.0, NAN, INF, "0.1", None, True, [0.1]],
    "verbose01": [2, -1, "1", None, 0.5],
    "finite_or_none": [NAN, INF, "1"],
    "string_choice": ["nope", 3, None],
    "string_choice_or_none": ["nope", 3],
}


def good(cls_name):
    """Valid constructor arguments of each class (the bad value replaces one of them)."""
    dense = keras.layers.Dense(4)
    table = {
        "L1": {},
        "L2": {},
        "ElasticNet": {},
        "GroupLasso": {},
        "Orthogonal": {},
        "L2SP": {},
        "MaxNorm": {},
        "SpectralNorm": {},
        "Constant": {"value": 0.1},
        "Linear": {"start": 0.0, "end": 1.0, "steps": 10},
        "Cosine": {"start": 1.0, "end": 0.0, "steps": 10},
        "Step": {"boundaries": [2, 5], "values": [0.1, 0.01, 0.0]},
        "GaussianNoise": {"stddev": 0.1},
        "MultiplicativeNoise": {"stddev": 0.1},
        "UniformNoise": {"scale": 0.1},
        "DropPath": {"rate": 0.1},
        "DropBlock1D": {"rate": 0.1, "block_size": 2},
        "DropBlock2D": {"rate": 0.1, "block_size": 2},
        "ConcreteDropout": {"layer": dense},
        "SpectralNormalization": {"layer": dense},
        "WeightNoise": {"layer": dense, "stddev": 0.1},
        "DropConnect": {"layer": dense, "rate": 0.1},
        "FeatureMask": {"rate": 0.1},
        "SwapNoise": {"rate": 0.1},
        "TimeMask": {"max_width": 2},
        "FrequencyMask": {"max_width": 2},
        "MixUp": {},
        "CutMix": {},
        "MixUpCutMix": {},
        "LabelSmoothing": {},
        "EarlyStopping": {},
        "AdaptiveEarlyStopping": {},
        "TrainingBinding": {},
        "ProximalStep": {},
        "RegularizationReport": {"log_dir": "logs/never-written"},
    }
    return table[cls_name]


#: `{class name: {argument: kind}}`.
TABLE = {
    "L1": {"l1": "strength", "proximal": "bool"},
    "L2": {"l2": "strength"},
    "ElasticNet": {"l1": "strength", "l2": "strength", "proximal": "bool"},
    "GroupLasso": {"factor": "strength", "axis": "axis", "proximal": "bool"},
    "Orthogonal": {"factor": "strength", "mode": "string_choice", "iterations": "int>=1"},
    "L2SP": {"factor": "strength"},
    "MaxNorm": {"max_value": "positive", "axis": "axis"},
    "SpectralNorm": {
        "max_value": "positive",
        "power_iterations": "int>=1",
        "mode": "string_choice",
        "epsilon": "positive",
    },
    "Constant": {"value": "non_negative"},
    "Linear": {"start": "non_negative", "end": "non_negative", "steps": "int>=1", "delay": "int>=0"},
    "Cosine": {"start": "non_negative", "end": "non_negative", "steps": "int>=1", "delay": "int>=0"},
    "Step": {},
    "GaussianNoise": {"stddev": "non_negative", "seed": "seed"},
    "MultiplicativeNoise": {"stddev": "non_negative", "seed": "seed"},
    "UniformNoise": {"scale": "non_negative", "seed": "seed"},
    "DropPath": {"rate": "rate", "seed": "seed"},
    "DropBlock1D": {"rate": "rate", "block_size": "int>=1", "data_format": "string_choice_or_none", "seed": "seed"},
    "DropBlock2D": {"rate": "rate", "block_size": "int>=1", "data_format": "string_choice_or_none", "seed": "seed"},
    "ConcreteDropout": {
        "layer": "layer",
        "init_rate": "open_unit",
        "temperature": "positive",
        "weight_regularizer": "non_negative",
        "dropout_regularizer": "non_negative",
        "seed": "seed",
    },
    "SpectralNormalization": {"layer": "layer", "power_iterations": "int>=1", "epsilon": "positive"},
    "WeightNoise": {"layer": "layer", "stddev": "non_negative", "seed": "seed"},
    "DropConnect": {"layer": "layer", "rate": "rate", "seed": "seed"},
    "FeatureMask": {"rate": "rate", "mask_value": "finite", "seed": "seed"},
    "SwapNoise": {"rate": "rate", "seed": "seed"},
    "TimeMask": {
        "max_width": "int>=1",
        "count": "int>=1",
        "mask_value": "finite",
        "data_format": "string_choice_or_none",
        "seed": "seed",
    },
    "FrequencyMask": {
        "max_width": "int>=1",
        "count": "int>=1",
        "mask_value": "finite",
        "data_format": "string_choice_or_none",
        "seed": "seed",
    },
    "MixUp": {
        "alpha": "non_negative",
        "prob": "unit",
        "mode": "string_choice",
        "label_smoothing": "unit",
        "num_classes": "int>=1_or_none",
        "seed": "seed",
    },
    "CutMix": {
        "alpha": "non_negative",
        "prob": "unit",
        "mode": "string_choice",
        "label_smoothing": "unit",
        "num_classes": "int>=1_or_none",
        "data_format": "string_choice_or_none",
        "seed": "seed",
    },
    "MixUpCutMix": {
        "mixup_alpha": "non_negative",
        "cutmix_alpha": "non_negative",
        "switch_prob": "unit",
        "prob": "unit",
        "mode": "string_choice",
        "label_smoothing": "unit",
        "num_classes": "int>=1_or_none",
        "data_format": "string_choice_or_none",
        "seed": "seed",
    },
    "LabelSmoothing": {"smoothing": "unit", "num_classes": "int>=1_or_none"},
    "EarlyStopping": {
        "min_delta": "finite_or_none",
        "patience": "int>=0",
        "verbose": "verbose",
        "mode": "string_choice",
        "baseline": "finite_or_none",
        "restore_best_weights": "bool",
        "start_from_epoch": "int>=0",
        "min_delta_mode": "string_choice",
        "smoothing": "rate",
        "criterion": "string_choice",
        "strip_length": "int>=1",
        "strips": "int>=1",
    },
    "AdaptiveEarlyStopping": {
        "patience": "int>=0",
        "mode": "string_choice",
        "restore_best_weights": "bool",
        "start_from_epoch": "int>=0",
        "patience_ratio": "non_negative",
        "trend_test": "bool",
        "rule": "string_choice",
        "min_progress": "non_negative",
    },
    "TrainingBinding": {"verbose": "verbose01"},
    "ProximalStep": {"verbose": "verbose01"},
    "RegularizationReport": {
        "near_zero": "non_negative",
        "near_zero_scale": "string_choice",
        "power_iterations": "int>=1",
        "histogram_freq": "int>=0",
        "sparsity_table": "bool",
        "layout": "bool",
    },
}

#: Arguments not in `TABLE`, with the reason (their own bad values are in `SPECIAL` when they have any).
UNCHECKED = {
    ("L2SP", "reference"): "array-valued: SPECIAL",
    ("MaxNorm", "axis"): "also SPECIAL (list forms)",
    ("SpectralNorm", "input_size"): "depends on mode: SPECIAL",
    ("Step", "boundaries"): "list-valued: SPECIAL",
    ("Step", "values"): "list-valued: SPECIAL",
    ("CutMix", "axis"): "SPECIAL",
    ("MixUpCutMix", "axis"): "SPECIAL",
    ("EarlyStopping", "monitor"): "any non-empty string: SPECIAL",
    ("EarlyStopping", "stopping_threshold"): "finite float or None: SPECIAL",
    ("EarlyStopping", "divergence_threshold"): "finite float or None: SPECIAL",
    ("EarlyStopping", "check_finite"): "bool: SPECIAL",
    ("EarlyStopping", "alpha"): "positive float or None, depends on criterion: SPECIAL",
    ("EarlyStopping", "backup_dir"): "a path: SPECIAL",
    ("EarlyStopping", "run_id"): "a file-name-safe string: SPECIAL",
    ("AdaptiveEarlyStopping", "monitor"): "None or a non-empty string: SPECIAL",
    ("AdaptiveEarlyStopping", "min_delta"): "as EarlyStopping",
    ("AdaptiveEarlyStopping", "verbose"): "as EarlyStopping",
    ("AdaptiveEarlyStopping", "baseline"): "as EarlyStopping",
    ("AdaptiveEarlyStopping", "max_patience"): "int or None: SPECIAL",
    ("RegularizationReport", "log_dir"): "a path",
    ("RegularizationReport", "update_freq"): "'epoch', 'batch' or an integer, as Keras's TensorBoard (owned elsewhere)",
    ("RegularizationReport", "run_name"): "a directory name or None: SPECIAL",
    ("RegularizationReport", "jit_compile"): "'auto' or a bool: SPECIAL",
}

#: Other bad values: `(class name, constructor kwargs, argument named in the message)`.
SPECIAL = [
    ("L2SP", {"reference": "weights"}, "reference"),
    ("L2SP", {"reference": np.array([1.0, np.nan], "float32")}, "reference"),
    ("L2SP", {"reference": np.array([True])}, "reference"),
    ("MaxNorm", {"axis": [0, 0]}, "axis"),
    ("MaxNorm", {"axis": [0, "1"]}, "axis"),
    ("SpectralNorm", {"mode": "conv"}, "input_size"),
    ("SpectralNorm", {"mode": "conv", "input_size": [0, 8]}, "input_size"),
    ("SpectralNorm", {"mode": "conv", "input_size": [8, 8, 8, 8]}, "input_size"),
    ("SpectralNorm", {"mode": "conv", "input_size": 8}, "input_size"),
    ("SpectralNorm", {"input_size": [8, 8]}, "input_size"),
    ("Step", {"boundaries": [5, 2], "values": [0.1, 0.01, 0.0]}, "boundaries"),
    ("Step", {"boundaries": [2, 5], "values": [0.1, 0.01]}, "values"),
    ("Step", {"boundaries": [2], "values": [0.1, -1.0]}, "values"),
    ("Step", {"boundaries": [2], "values": [0.1, NAN]}, "values"),
    ("Step", {"boundaries": "2", "values": [0.1, 0.2]}, "boundaries"),
    ("Step", {"boundaries": [2], "values": 0.1}, "values"),
    ("Linear", {"start": 0.1, "end": 0.2, "steps": 0}, "steps"),
    ("GaussianNoise", {"stddev": {"class_name": "NotASchedule", "config": {}}}, "stddev"),
    ("DropPath", {"rate": S.Linear(0.0, 1.5, steps=10)}, "rate"),
    ("DropConnect", {"layer": keras.layers.Dense(2), "rate": S.Linear(0.0, 1.0, steps=10)}, "rate"),
    ("CutMix", {"axis": 0}, "axis"),
    ("CutMix", {"axis": 1.5}, "axis"),
    ("EarlyStopping", {"monitor": ""}, "monitor"),
    ("EarlyStopping", {"monitor": 3}, "monitor"),
    ("EarlyStopping", {"stopping_threshold": NAN}, "stopping_threshold"),
    ("EarlyStopping", {"divergence_threshold": "high"}, "divergence_threshold"),
    ("EarlyStopping", {"check_finite": "yes"}, "check_finite"),
    ("EarlyStopping", {"criterion": "gl", "alpha": -1.0}, "alpha"),
    ("EarlyStopping", {"backup_dir": 3}, "backup_dir"),
    ("EarlyStopping", {"run_id": "a/b"}, "run_id"),
    ("AdaptiveEarlyStopping", {"monitor": ""}, "monitor"),
    ("AdaptiveEarlyStopping", {"max_patience": -1}, "max_patience"),
    ("RegularizationReport", {"log_dir": "logs", "run_name": "train"}, "run_name"),
    ("RegularizationReport", {"log_dir": "logs", "jit_compile": "yes"}, "jit_compile"),
]


def classes():
    return {name: cls for name, cls in public_classes().items() if name not in EXCLUDED}


def constructor_arguments(cls):
    parameters = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in parameters if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def bad_cases():
    for name, arguments in sorted(TABLE.items()):
        for argument, kind in arguments.items():
            for value in KINDS[kind]:
                yield pytest.param(name, argument, value, id=f"{name}-{argument}={value!r}")


def message_names(error, argument, value):
    """Whether the message names the argument and the value (`repr`, or `str` for NaN/inf)."""
    text = str(error)
    if f"`{argument}`" not in text and f"{argument}=" not in text:
        return False
    shown = [repr(value), str(value)]
    if isinstance(value, float) and not math.isfinite(value):
        shown.append(str(value))
    if inspect.isclass(value):
        shown.append(value.__name__)
    return any(f"{argument}={s}" in text for s in shown)


def test_every_public_constructor_argument_is_in_the_table():
    found = classes()
    assert not sorted(set(found) - set(TABLE)), "classes with no row in TABLE"
    assert not sorted(set(TABLE) - set(found)), "rows for classes the walk no longer finds"
    missing = []
    for name, cls in found.items():
        for argument in constructor_arguments(cls):
            if argument not in TABLE[name] and (name, argument) not in UNCHECKED:
                missing.append(f"{name}({argument}=...)")
    assert not missing, f"constructor arguments with no bad values and no reason: {missing}"


@pytest.mark.parametrize("name, argument, value", bad_cases())
def test_bad_constructor_argument_raises_naming_it_and_the_value(name, argument, value):
    cls = classes()[name]
    kwargs = {**good(name), argument: value}
    with pytest.raises((ValueError, TypeError)) as error:
        cls(**kwargs)
    assert message_names(error.value, argument, value), str(error.value)


@pytest.mark.parametrize("name, kwargs, argument", SPECIAL, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(SPECIAL)])
def test_special_bad_values(name, kwargs, argument):
    cls = classes()[name]
    with pytest.raises((ValueError, TypeError)) as error:
        cls(**{**good(name), **kwargs})
    text = str(error.value)
    assert f"`{argument}`" in text and f"{argument}=" in text, text


# ----------------------------------------------------------------------------------- wrong inputs at call time

CALL_CASES = [
    # (what, callable raising, message regex)
    (
        "DropBlock2D on a rank-3 input",
        lambda: L.DropBlock2D(0.2, 2)(np.ones((2, 4, 4), "float32")),
        "DropBlock2D|rank-4",
    ),
    ("DropBlock1D on a rank-4 input", lambda: L.DropBlock1D(0.2, 2)(np.ones((2, 4, 4, 1), "float32")), "rank-3"),
    (
        "DropBlock2D block larger than the map",
        lambda: L.DropBlock2D(0.2, 5)(np.ones((2, 4, 4, 1), "float32"), training=True),
        "block_size",
    ),
    ("DropPath on a scalar", lambda: L.DropPath(0.2)(np.float32(1.0)), "rank"),
    (
        "SpectralNormalization of a layer without a kernel",
        lambda: L.SpectralNormalization(keras.layers.Flatten())(np.ones((2, 3), "float32")),
        "SpectralNormalization needs a layer with a `kernel`",
    ),
    (
        "ConcreteDropout of a layer without a kernel",
        lambda: L.ConcreteDropout(keras.layers.Flatten())(np.ones((2, 3), "float32")),
        "ConcreteDropout needs a layer with a `kernel`",
    ),
    (
        "WeightNoise of a layer without a kernel",
        lambda: L.WeightNoise(keras.layers.Flatten(), 0.1)(np.ones((2, 3), "float32")),
        "layer",
    ),
    ("MaxNorm axis out of range", lambda: C.MaxNorm(3, axis=5)(np.ones((4, 3), "float32")), "MaxNorm.*axis"),
    ("Orthogonal on a bias", lambda: R.Orthogonal(0.1)(np.ones((4,), "float32")), "Orthogonal needs a weight of rank"),
    ("GroupLasso axis out of range", lambda: R.GroupLasso(0.1, axis=3)(np.ones((4, 3), "float32")), "GroupLasso.*axis"),
    (
        "L2SP reference of another shape",
        lambda: R.L2SP(0.1, reference=np.ones((3, 3), "float32"))(np.ones((4, 3), "float32")),
        "L2SP reference has shape",
    ),
    (
        "SpectralNorm conv mode with input_size of the wrong length",
        lambda: C.SpectralNorm(1.0, mode="conv", input_size=[8])(np.ones((3, 3, 2, 4), "float32")),
        "SpectralNorm.*input_size",
    ),
    (
        "SpectralNorm conv mode on a Dense kernel",
        lambda: C.SpectralNorm(1.0, mode="conv", input_size=[8, 8])(np.ones((4, 3), "float32")),
        "SpectralNorm.*input_size",
    ),
]


@pytest.mark.parametrize("what, call, message", CALL_CASES, ids=[c[0] for c in CALL_CASES])
def test_wrong_inputs_at_call_time_raise_a_clear_value_error(what, call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_kreg_get_of_bad_identifiers_names_the_identifier():
    for module in (kreg.regularizers, kreg.constraints):
        with pytest.raises(ValueError, match=r"Received: identifier=3"):
            module.get(3)
