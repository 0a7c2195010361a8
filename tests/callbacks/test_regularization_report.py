"""RegularizationReport: a real `fit`, then the event files read back with TensorBoard's EventAccumulator."""

import os
import re
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.datasets import load_digits
from tensorboard.plugins.custom_scalar import layout_pb2

import kreg
from kreg import validation
from kreg.callbacks.regularization_report import (
    RegularizationReport,
    is_auto_named,
    layer_keys,
    metric_direction,
    percent,
    scheduled_values,
    weight_keys,
)
from kreg.layers.concrete_dropout import ConcreteDropout
from kreg.layers.scheduled_layer import ScheduledLayer
from kreg.tensorboard.event_reader import read_scalars, read_tensors

STEPS_PER_EPOCH = 3
EPOCHS = 3


class KeepMask(keras.constraints.Constraint):
    """Keeps the zeros of a fixed mask, so the kernel's sparsity is known exactly."""

    def __init__(self, mask):
        self.mask = mask

    def __call__(self, w):
        return w * ops.convert_to_tensor(self.mask, w.dtype)


class ScheduledL2(keras.regularizers.Regularizer):
    """`strength(step) * sum(x**2)` with the step read from an optimizer (0 where the variable cannot be read)."""

    def __init__(self, strength, optimizer):
        self.strength = strength
        self.optimizer = optimizer

    def __call__(self, x):
        try:
            step = ops.convert_to_tensor(self.optimizer.iterations.value)
        except (TypeError, AttributeError):  # JAX's compiled train step: the trainer holds the optimizer state
            step = 0
        return ops.cast(self.strength(step), x.dtype) * ops.sum(ops.square(x))


def digits(n=300):
    x, y = load_digits(return_X_y=True)
    return (x[:n] / 16.0).astype("float32"), y[:n].astype("int32")


def mask():
    rng = np.random.default_rng(0)
    m = (rng.random((64, 16)) > 0.4).astype("float32")
    m[:, [3, 7]] = 0.0  # two all-zero units
    return m


def build_model(l1=0.01, optimizer=None, strength=None):
    optimizer = optimizer or keras.optimizers.Adam(1e-2)
    strength = strength or keras.optimizers.schedules.PiecewiseConstantDecay([2, 5], [0.0, 1e-3, 1e-2])
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(
                16,
                activation="relu",
                kernel_regularizer=keras.regularizers.L1(l1),
                kernel_constraint=KeepMask(mask()),
                name="hidden",
            ),
            keras.layers.Dense(10, kernel_regularizer=ScheduledL2(strength, optimizer), name="logits"),
        ],
        name="net",
    )
    model.layers[0].kernel.assign(ops.convert_to_numpy(model.layers[0].kernel.value) * mask())
    model.compile(
        optimizer,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="xent")],
    )
    return model


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    keras.utils.set_random_seed(0)
    log_dir = tmp_path_factory.mktemp("report")
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=2, decay_rate=0.5)
    strength = keras.optimizers.schedules.PiecewiseConstantDecay([2, 5], [0.0, 1e-3, 1e-2])
    model = build_model(optimizer=keras.optimizers.Adam(schedule), strength=strength)
    x, y = digits()
    report = RegularizationReport(log_dir, power_iterations=20)
    history = model.fit(
        x[:240],
        y[:240],
        validation_data=(x[240:], y[240:]),
        epochs=EPOCHS,
        batch_size=80,
        verbose=0,
        callbacks=[report],
    )
    assert report.run_dir == str(log_dir)  # the only writer in `log_dir`: no `regularization/` sub-directory
    run = log_dir
    return {
        "model": model,
        "history": history.history,
        "scalars": read_scalars(run),
        "tensors": read_tensors(run),
        "schedule": schedule,
        "strength": strength,
        "report": report,
    }


def values(scalars, tag):
    steps, vals = zip(*scalars[tag])
    assert list(steps) == list(range(EPOCHS)), tag
    return np.array(vals)


def test_every_tag_is_logged_every_epoch(fitted):
    s = fitted["scalars"]
    expected = {"sparsity/global", "near_zero/global", "penalty/total", "penalty/share", "schedules/learning_rate"}
    expected |= {f"generalization/{t}" for t in ("loss_gap", "loss_ratio", "gl", "accuracy_gap", "xent_gap")}
    metrics = ("loss", "data_loss", "penalty", "accuracy", "xent")
    expected |= {f"metrics/{m}/{r}" for m in metrics for r in ("train", "validation")}
    # The model's name (`net`) is left out of the tags; the user's layer names are kept.
    for path in ("hidden/kernel", "hidden/bias", "logits/kernel", "logits/bias"):
        expected |= {f"sparsity/{path}", f"near_zero/{path}"} | {f"norms/{path}/{n}" for n in ("l1", "l2", "max_abs")}
    for path in ("hidden/kernel", "logits/kernel"):
        expected |= {f"group_sparsity/{path}", f"penalty/{path}", f"norms/{path}/spectral", f"norms/{path}/stable_rank"}
    expected.add("schedules/regularizers/logits/kernel/strength")
    assert expected == set(s)
    for tag in expected:
        assert len(values(s, tag)) == EPOCHS


def test_sparsity_of_a_kernel_with_known_zeros(fitted):
    s, m = fitted["scalars"], mask()
    # Fractions of exact counts: equal up to float32 rounding of the division (XLA may multiply by 1 / size).
    np.testing.assert_allclose(values(s, "sparsity/hidden/kernel"), np.mean(m == 0), rtol=1e-6)
    np.testing.assert_allclose(values(s, "group_sparsity/hidden/kernel"), 2 / 16, rtol=1e-6)
    np.testing.assert_allclose(values(s, "group_sparsity/logits/kernel"), 0.0, atol=1e-7)
    assert np.all(values(s, "near_zero/hidden/kernel") >= np.float32(np.mean(m == 0)) * (1 - 1e-6))


def test_final_norms_and_penalties_match_numpy(fitted):
    s, model = fitted["scalars"], fitted["model"]
    hidden = ops.convert_to_numpy(model.layers[0].kernel.value).astype(np.float64)
    logits = ops.convert_to_numpy(model.layers[1].kernel.value).astype(np.float64)
    weights = [ops.convert_to_numpy(w.value) for w in model.trainable_weights]
    last = {tag: values(s, tag)[-1] for tag in s}
    np.testing.assert_allclose(last["norms/hidden/kernel/l1"], np.abs(hidden).sum(), rtol=1e-5)
    np.testing.assert_allclose(last["norms/hidden/kernel/l2"], np.sqrt((hidden**2).sum()), rtol=1e-5)
    np.testing.assert_allclose(last["norms/logits/kernel/max_abs"], np.abs(logits).max(), rtol=1e-6)
    sigma = np.linalg.svd(hidden, compute_uv=False)[0]
    np.testing.assert_allclose(last["norms/hidden/kernel/spectral"], sigma, rtol=1e-3)
    np.testing.assert_allclose(last["norms/hidden/kernel/stable_rank"], (hidden**2).sum() / sigma**2, rtol=2e-3)
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.size for w in weights)
    np.testing.assert_allclose(last["sparsity/global"], zeros, rtol=1e-6)
    # Penalties: the regularizers' values on the final weights; the scheduled one at the final step (9).
    l1_penalty = 0.01 * np.abs(hidden).sum()
    l2_penalty = float(fitted["strength"](EPOCHS * STEPS_PER_EPOCH)) * (logits**2).sum()
    np.testing.assert_allclose(last["penalty/hidden/kernel"], l1_penalty, rtol=1e-5)
    np.testing.assert_allclose(last["penalty/logits/kernel"], l2_penalty, rtol=1e-5)
    np.testing.assert_allclose(last["penalty/total"], l1_penalty + l2_penalty, rtol=1e-5)
    np.testing.assert_allclose(
        last["penalty/share"], (l1_penalty + l2_penalty) / fitted["history"]["loss"][-1], rtol=1e-5
    )


def test_generalization_gap_from_history(fitted):
    s, h = fitted["scalars"], fitted["history"]
    np.testing.assert_allclose(values(s, "metrics/loss/train"), h["loss"], rtol=1e-6)
    np.testing.assert_allclose(values(s, "metrics/data_loss/validation"), h["val_data_loss"], rtol=1e-6)
    # The model has penalties: the loss gap is on the data loss (Keras's loss includes the penalty).
    loss, val_loss = np.array(h["data_loss"]), np.array(h["val_data_loss"])
    np.testing.assert_allclose(loss + np.array(h["penalty"]), h["loss"], rtol=1e-5)
    np.testing.assert_allclose(values(s, "metrics/accuracy/validation"), h["val_accuracy"], rtol=1e-6)
    np.testing.assert_allclose(values(s, "generalization/loss_gap"), val_loss - loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values(s, "generalization/loss_ratio"), val_loss / loss, rtol=1e-5)
    gl = 100.0 * (val_loss / np.minimum.accumulate(val_loss) - 1.0)
    np.testing.assert_allclose(values(s, "generalization/gl"), gl, rtol=1e-5, atol=1e-5)
    acc_gap = np.array(h["accuracy"]) - np.array(h["val_accuracy"])
    np.testing.assert_allclose(values(s, "generalization/accuracy_gap"), acc_gap, rtol=1e-5, atol=1e-6)
    xent_gap = np.array(h["val_xent"]) - np.array(h["xent"])
    np.testing.assert_allclose(values(s, "generalization/xent_gap"), xent_gap, rtol=1e-5, atol=1e-6)


def test_learning_rate_and_scheduled_strength(fitted):
    s = fitted["scalars"]
    steps = [(epoch + 1) * STEPS_PER_EPOCH for epoch in range(EPOCHS)]
    np.testing.assert_allclose(values(s, "schedules/learning_rate"), [float(fitted["schedule"](t)) for t in steps])
    expected = [float(fitted["strength"](t)) for t in steps]
    np.testing.assert_allclose(values(s, "schedules/regularizers/logits/kernel/strength"), expected)


def test_layout_and_sparsity_table(fitted):
    tensors = fitted["tensors"]
    ((step, payload),) = tensors["custom_scalars__config__"]
    layout = layout_pb2.Layout.FromString(payload)
    titles = [c.title for c in layout.category]
    assert titles[:7] == [
        "Validation",
        "Generalization gap",
        "Training",
        "Sparsity",
        "Penalties",
        "Norms",
        "Schedules",
    ]
    assert titles[7:] == ["Layer hidden", "Layer logits"]  # model order
    assert [c.title for c in layout.category[0].chart] == [
        "validation data loss (the loss without penalties)",
        "validation loss with penalties (Keras's loss)",
        "validation accuracy",
        "validation xent",
    ]
    ((step, table),) = tensors["report/sparsity_table"]
    assert step == EPOCHS - 1
    lines = table.decode().splitlines()
    assert lines[0] == (
        r"| weight | shape | exact zeros | near zero (\|w\| ≤ 0.001·max\|w\|) | all-zero units | penalty |"
    )
    hidden = next(line for line in lines if line.startswith("| hidden/kernel |"))
    assert hidden.split(" | ")[1:3] == ["64x16", f"{100 * np.mean(mask() == 0):.2f}%"]
    assert hidden.split(" | ")[4] == "12.50%"  # 2 of 16 units
    bias = next(line for line in lines if line.startswith("| hidden/bias |"))
    assert re.fullmatch(r"\| hidden/bias \| 16 \| [0-9.]+% \| [0-9.]+% \|  \|  \|", bias), bias  # no units, no penalty
    assert "Near zero: entries with |w| ≤ 0.001·max|w|" in lines[-1]
    assert fitted["report"].writer.closed


def test_every_chart_of_the_layout_plots_a_logged_tag(fitted):
    ((_, payload),) = fitted["tensors"]["custom_scalars__config__"]
    layout = layout_pb2.Layout.FromString(payload)
    tags = set(fitted["scalars"])
    for category in layout.category:
        for chart in category.chart:
            assert any(re.match(p, t) for p in chart.multiline.tag for t in tags), (category.title, chart.title)
    (norms,) = [category for category in layout.category if category.title == "Norms"]
    norm_charts = {c.title: c.multiline.tag for c in norms.chart}
    assert not any(re.match(norm_charts["l2 norm: kernel"][0], t) for t in tags if "/bias/" in t)


def test_percent():
    assert [percent(f) for f in (0.0, 1.0, 0.375, 1e-5, 0.99999, 0.123456, None)] == [
        "0%",
        "100%",
        "37.50%",
        "<0.01%",
        ">99.99%",
        "12.35%",
        "",
    ]


def auto_named_mlp(regularizer=None):
    """Dense/Dropout/Dense with Keras's automatic names (numbered per process: `dense_12`, ...)."""
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(16, activation="relu", kernel_regularizer=regularizer),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10),
        ]
    )


def test_weight_keys_do_not_depend_on_keras_layer_numbering():
    first, second = auto_named_mlp(), auto_named_mlp()
    assert first.layers[0].name != second.layers[0].name  # Keras numbered them apart
    expected = ["00_dense/kernel", "00_dense/bias", "02_dense/kernel", "02_dense/bias"]
    assert weight_keys(first, first.trainable_weights) == expected
    assert weight_keys(second, second.trainable_weights) == expected
    assert [key for _, key in layer_keys(second)] == ["00_dense", "01_dropout", "02_dense"]


def test_weight_keys_of_nested_functional_and_wrapped_layers():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(3, name="out")], name="enc")
    inputs = keras.Input((4,))
    outputs = ConcreteDropout(keras.layers.Dense(2), seed=0)(keras.layers.BatchNormalization()(inner(inputs)))
    model = keras.Model(inputs, outputs)
    keys = weight_keys(model, model.trainable_weights)
    # Index in the parent's `layers` (a functional model lists its InputLayer first); user names kept.
    assert keys == [
        "enc/00_dense/kernel",
        "enc/00_dense/bias",
        "enc/out/kernel",
        "enc/out/bias",
        "02_batch_normalization/gamma",
        "02_batch_normalization/beta",
        "03_concrete_dropout/p_logit",
        "03_concrete_dropout/00_dense/kernel",
        "03_concrete_dropout/00_dense/bias",
    ]
    # Twelve auto-named layers: two digits still sort in model order; the same variable twice gets a suffix.
    wide = keras.Sequential([keras.Input((2,))] + [keras.layers.Dense(2) for _ in range(12)])
    assert weight_keys(wide, wide.trainable_weights)[-2:] == ["11_dense/kernel", "11_dense/bias"]
    assert weight_keys(wide, [wide.layers[0].kernel] * 2) == ["00_dense/kernel", "00_dense/kernel_1"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: keras.layers.Dense(2),
        lambda: keras.layers.Conv2D(2, 3),
        lambda: keras.layers.Conv1DTranspose(2, 3),
        lambda: keras.layers.BatchNormalization(),
        lambda: keras.layers.MultiHeadAttention(2, 4),
        lambda: keras.layers.GRU(2),
        lambda: keras.layers.PReLU(),
        lambda: ConcreteDropout(keras.layers.Dense(2)),
    ],
)
def test_keras_automatic_names_are_recognized(make):
    first, second = make(), make()  # the second one is numbered (`dense_7`)
    assert is_auto_named(first) and is_auto_named(second) and first.name != second.name
    assert not is_auto_named(type(first).from_config({**first.get_config(), "name": "mine"}))


@pytest.mark.filterwarnings("ignore:RegularizationReport. .fit. has no validation data")
def test_two_runs_of_one_architecture_write_the_same_tags_and_layout(tmp_path):
    x, y = digits(80)
    tags, layouts = [], []
    for run in ("a", "b"):
        model = auto_named_mlp(keras.regularizers.L2(1e-3))
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
        report = RegularizationReport(tmp_path / run, jit_compile=False)
        model.fit(x, y, epochs=1, batch_size=80, verbose=0, callbacks=[report])
        tensors = read_tensors(tmp_path / run)
        tags.append(set(tensors))
        layouts.append(tensors["custom_scalars__config__"][0][1])
    assert tags[0] == tags[1] and "penalty/00_dense/kernel" in tags[0]
    assert layouts[0] == layouts[1]


@pytest.mark.filterwarnings("ignore:RegularizationReport. .fit. has no validation data")
def test_the_run_directory_rule(tmp_path):
    x = np.ones((8, 4), "float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L2(0.1))])
    model.compile("sgd", "mse", jit_compile=False)

    def fit(**kwargs):
        report = RegularizationReport(layout=False, sparsity_table=False, jit_compile=False, **kwargs)
        model.fit(x, x[:, :2], epochs=1, verbose=0, callbacks=[report])
        return report

    alone = fit(log_dir=tmp_path / "alone")
    model.fit(x, x[:, :2], epochs=1, verbose=0, callbacks=[alone])
    assert alone.run_dir == str(tmp_path / "alone")
    assert all(name.startswith("events.out.tfevents.") for name in os.listdir(tmp_path / "alone"))
    # Keras's runs already in `log_dir`: a run of its own next to them, kept for the next `fit` of the callback.
    (tmp_path / "shared" / "train").mkdir(parents=True)
    shared = fit(log_dir=tmp_path / "shared")
    assert shared.run_dir == str(tmp_path / "shared" / "regularization")
    assert "sparsity/global" in read_scalars(tmp_path / "shared" / "regularization")
    named = fit(log_dir=tmp_path / "named", run_name="kreg")
    assert named.run_dir == str(tmp_path / "named" / "kreg") and os.listdir(tmp_path / "named") == ["kreg"]


class FakeModel:
    """What `_generalization_scalars` reads of a model: nothing but the metrics' directions (none here)."""

    metrics = ()


def test_the_gap_and_gl_use_the_data_loss_not_keras_loss(tmp_path):
    """Overfitting hidden by a shrinking penalty: `val_loss` falls every epoch while `val_data_loss` rises."""
    report = RegularizationReport(tmp_path)
    report._best_val_loss, report._warned = None, set()
    data_loss, val_data_loss = [0.5, 0.3, 0.2, 0.1], [0.6, 0.5, 0.55, 0.7]
    penalty = [2.0, 1.5, 1.0, 0.5]
    got = []
    for epoch in range(4):
        logs = {
            "loss": data_loss[epoch] + penalty[epoch],
            "val_loss": val_data_loss[epoch] + penalty[epoch],
            "data_loss": data_loss[epoch],
            "val_data_loss": val_data_loss[epoch],
            "penalty": penalty[epoch],
            "val_penalty": penalty[epoch],
        }
        got.append(report._generalization_scalars(FakeModel(), logs))
    np.testing.assert_allclose([g["generalization/gl"] for g in got], [0.0, 0.0, 10.0, 40.0], atol=1e-12)
    np.testing.assert_allclose([g["generalization/loss_gap"] for g in got], [0.1, 0.2, 0.35, 0.6], atol=1e-12)
    np.testing.assert_allclose([g["generalization/loss_ratio"] for g in got], [1.2, 5 / 3, 2.75, 7.0])
    assert set(got[0]) == {"generalization/gl", "generalization/loss_gap", "generalization/loss_ratio"}


def test_a_model_without_penalties_gets_data_loss_and_no_empty_chart(tmp_path):
    x, y = digits(120)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(8, name="zeta"), keras.layers.Dense(10, name="alpha")]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(
        x, y, validation_split=0.5, epochs=2, batch_size=30, verbose=0, callbacks=[RegularizationReport(tmp_path)]
    ).history
    scalars, tensors = read_scalars(tmp_path), read_tensors(tmp_path)
    assert "data_loss" not in history  # no penalty: the binding adds no metric, the loss is the data loss
    np.testing.assert_allclose([v for _, v in scalars["metrics/data_loss/train"]], history["loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in scalars["metrics/data_loss/validation"]], history["val_loss"], rtol=1e-6)
    assert not any(tag.startswith("penalty/") and tag not in ("penalty/total", "penalty/share") for tag in scalars)
    layout = layout_pb2.Layout.FromString(tensors["custom_scalars__config__"][0][1])
    charts = {(c.title, chart.title) for c in layout.category for chart in c.chart}
    assert ("Penalties", "penalty on the weights, total") in charts
    assert not any("penalty per weight" in t or t.endswith(": penalty") for _, t in charts)
    assert not any("regularizer strengths" in t or "layer rates" in t for _, t in charts)
    assert [c.title for c in layout.category][-2:] == ["Layer zeta", "Layer alpha"]  # model order, not sorted
    for category in layout.category:
        for chart in category.chart:
            assert any(re.match(p, t) for p in chart.multiline.tag for t in scalars), (category.title, chart.title)


def test_no_validation_data_warns_once_and_skips_the_gap(tmp_path):
    x, y = digits(160)
    model = build_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(
            x, y, epochs=2, batch_size=80, verbose=0, callbacks=[RegularizationReport(tmp_path, sparsity_table=False)]
        )
    messages = [str(w.message) for w in caught if "no validation data" in str(w.message)]
    assert len(messages) == 1
    assert "generalization/" in messages[0]
    scalars = read_scalars(tmp_path)
    assert not any(tag.startswith("generalization/") for tag in scalars)
    assert "metrics/loss/train" in scalars and "metrics/loss/validation" not in scalars
    assert "report/sparsity_table" not in read_tensors(tmp_path)


def test_a_crash_mid_fit_loses_nothing_already_logged(tmp_path):
    class Crash(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 2 and batch == 1:
                raise RuntimeError("boom")

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    x, y = digits(240)
    report = RegularizationReport(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        build_model().fit(x, y, validation_split=0.25, epochs=5, batch_size=60, verbose=0, callbacks=[report, Crash()])
    assert not report.writer.closed  # no callback ran after the exception: the data were flushed at each epoch end
    scalars = read_scalars(tmp_path)
    assert [step for step, _ in scalars["sparsity/global"]] == [0, 1]
    assert [step for step, _ in scalars["generalization/loss_gap"]] == [0, 1]


def test_batch_level_weight_statistics(tmp_path):
    x, y = digits(240)
    model = build_model()
    report = RegularizationReport(tmp_path, update_freq=2, layout=False)
    model.fit(x, y, validation_split=0.25, epochs=2, batch_size=60, verbose=0, callbacks=[report])
    scalars = read_scalars(tmp_path)
    # Weight statistics: step = optimizer iterations (3 per epoch), at every 2nd batch and at each epoch end.
    assert sorted({step for step, _ in scalars["sparsity/global"]}) == [2, 3, 4, 6]
    assert [step for step, _ in scalars["metrics/loss/train"]] == [0, 1]
    assert "custom_scalars__config__" not in read_tensors(tmp_path)


def test_update_freq_batch_is_every_batch_as_in_keras(tmp_path):
    x, y = digits(240)
    report = RegularizationReport(tmp_path, update_freq="batch", layout=False, sparsity_table=False)
    assert report.batch_frequency == 1 and report.get_config()["update_freq"] == "batch"
    assert RegularizationReport(tmp_path, update_freq=3).batch_frequency == 3
    assert RegularizationReport(tmp_path).batch_frequency is None
    build_model().fit(x, y, validation_split=0.25, epochs=2, batch_size=60, verbose=0, callbacks=[report])
    scalars = read_scalars(tmp_path)
    # 3 batches per epoch: every batch end (steps 1..6), and the epoch ends again at steps 3 and 6.
    assert [step for step, _ in scalars["sparsity/global"]] == [1, 2, 3, 3, 4, 5, 6, 6]
    assert [step for step, _ in scalars["metrics/loss/train"]] == [0, 1]
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(report))
    assert restored.update_freq == "batch"


@pytest.mark.filterwarnings("ignore:Model failed to serialize as JSON")
def test_histograms_and_side_by_side_with_keras_tensorboard(tmp_path):
    x, y = digits(160)
    model = build_model()
    report = RegularizationReport(tmp_path, histogram_freq=2)
    model.fit(
        x,
        y,
        validation_split=0.5,
        epochs=3,
        batch_size=80,
        verbose=0,
        callbacks=[report, keras.callbacks.TensorBoard(tmp_path)],
    )
    # Keras's `train/` and `validation/` runs are in `log_dir`: the report writes its own run next to them.
    assert set(os.listdir(tmp_path)) == {"train", "validation", "regularization"}
    assert report.run_dir == os.path.join(tmp_path, "regularization")
    assert "epoch_loss" in read_tensors(tmp_path / "validation")
    tensors = read_tensors(tmp_path / "regularization")
    steps, hist = zip(*tensors["weights/hidden/kernel"])
    assert steps == (0, 2)
    assert hist[-1].shape == (30, 3) and hist[-1][:, 2].sum() == 64 * 16
    assert not any(tag.startswith("epoch_") for tag in tensors)


@pytest.mark.filterwarnings("ignore:RegularizationReport. .fit. has no validation data")
def test_a_second_fit_reuses_the_compiled_statistics(tmp_path):
    x, y = digits(160)
    model = build_model()
    report = RegularizationReport(tmp_path, sparsity_table=False, layout=False)
    model.fit(x, y, epochs=1, batch_size=80, verbose=0, callbacks=[report])
    statistics = report._statistics
    model.fit(x, y, epochs=1, batch_size=80, verbose=0, callbacks=[report])
    assert report._statistics is statistics
    files = os.listdir(tmp_path)
    assert len(files) == 2 and all(f.startswith("events.out.tfevents.") for f in files)


def test_scheduled_values_hook():
    class WithSchedule:
        def __init__(self):
            self._factor = keras.optimizers.schedules.PolynomialDecay(1.0, 10, 0.0)
            self.weight = keras.Variable(0.5)
            self.plain = 3.0

    class Explicit:
        def current_strengths(self, step):
            return {"l1": step * 2.0}

    assert scheduled_values(WithSchedule(), 5) == {"factor": 0.5, "weight": 0.5}
    assert scheduled_values(Explicit(), 3) == {"l1": 6.0}
    assert scheduled_values(keras.regularizers.L2(0.1), 0) == {}


def test_metric_direction():
    model = build_model()
    x, y = digits(80)
    model.evaluate(x, y, verbose=0)
    assert metric_direction(model, "accuracy") == "up"
    assert metric_direction(model, "xent") == "down"
    assert metric_direction(model, "mean_absolute_error") == "down"
    assert metric_direction(model, "auc") == "up"
    assert metric_direction(model, "widgets") is None


def test_get_config_round_trip(tmp_path):
    report = RegularizationReport(tmp_path, update_freq=5, near_zero=0.01, near_zero_scale="rms", histogram_freq=2)
    config = report.get_config()
    assert config == {
        "log_dir": str(tmp_path),
        "update_freq": 5,
        "near_zero": 0.01,
        "near_zero_scale": "rms",
        "power_iterations": 1,
        "histogram_freq": 2,
        "sparsity_table": True,
        "layout": True,
        "run_name": None,
        "jit_compile": "auto",
    }
    assert RegularizationReport.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(report))
    assert isinstance(restored, RegularizationReport) and restored.get_config() == config
    assert kreg.callbacks.RegularizationReport is RegularizationReport


def test_the_constructor_does_not_touch_the_disk_and_an_unwritable_log_dir_fails_at_fit(tmp_path):
    report = RegularizationReport(tmp_path / "logs")
    restored = RegularizationReport.from_config(report.get_config())
    assert not (tmp_path / "logs").exists() and restored.log_dir == report.log_dir
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    model = build_model()
    x, y = digits(80)
    with pytest.raises(
        ValueError, match=r"^Invalid value received for argument `log_dir`\. Expected a writable directory\."
    ):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[RegularizationReport(blocker / "logs")])
    assert not any(name.startswith("_kreg") for name in vars(model)), "a failed start leaves no binding behind"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"log_dir": 3}, "Expected a non-empty path (str or os.PathLike). Received: log_dir=3"),
        ({"log_dir": ""}, "Expected a non-empty path (str or os.PathLike). Received: log_dir=''"),
        ({"update_freq": 0}, "Expected 'epoch', 'batch' or an integer >= 1. Received: update_freq=0"),
        ({"update_freq": "batches"}, "Expected 'epoch', 'batch' or an integer >= 1. Received: update_freq='batches'"),
        ({"update_freq": True}, "Expected 'epoch', 'batch' or an integer >= 1. Received: update_freq=True"),
        ({"near_zero": -0.1}, "Expected a non-negative finite float. Received: near_zero=-0.1"),
        ({"near_zero_scale": "l2"}, "Expected one of 'max_abs', 'rms', 'absolute'. Received: near_zero_scale='l2'"),
        ({"power_iterations": 0}, "Expected an integer >= 1. Received: power_iterations=0"),
        ({"histogram_freq": -1}, "Expected an integer >= 0. Received: histogram_freq=-1"),
        ({"sparsity_table": "yes"}, "Expected a bool (True or False). Received: sparsity_table='yes'"),
        ({"layout": None}, "Expected a bool (True or False). Received: layout=None"),
        (
            {"run_name": "train"},
            "Expected None or a non-empty str other than 'train' and 'validation'. Received: run_name='train'",
        ),
        (
            {"run_name": ""},
            "Expected None or a non-empty str other than 'train' and 'validation'. Received: run_name=''",
        ),
        ({"jit_compile": "xla"}, "Expected 'auto', True or False. Received: jit_compile='xla'"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    kwargs = {"log_dir": tmp_path, **kwargs}
    name = next(k for k in kwargs if k != "log_dir") if len(kwargs) > 1 else "log_dir"
    with pytest.raises(ValueError) as error:
        RegularizationReport(**kwargs)
    assert str(error.value) == f"Invalid value received for argument `{name}`. {message}"


NO_TENSORFLOW_SCRIPT = """
import sys
sys.modules["tensorflow"] = None  # every `import tensorflow` now fails, as if it were not installed
import numpy as np, keras, kreg
from kreg.tensorboard import read_scalars
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L2(0.1))])
model.compile("sgd", "mse")
report = kreg.callbacks.RegularizationReport(sys.argv[1])
model.fit(np.ones((8, 4)), np.ones((8, 2)), validation_split=0.5, epochs=2, verbose=0, callbacks=[report])
w = keras.ops.convert_to_numpy(model.layers[0].kernel.value)
(step, penalty), = read_scalars(sys.argv[1])["penalty/total"][1:]
assert step == 1 and abs(penalty - 0.1 * (w**2).sum()) <= 1e-5 * penalty, (penalty, w)
print("ok", keras.backend.backend())
"""


def test_works_without_tensorflow(tmp_path, backend):
    backend = backend if backend != "tensorflow" else "jax"
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW_SCRIPT, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["ok", backend]


@pytest.mark.filterwarnings("ignore:RegularizationReport. .fit. has no validation data")
def test_kreg_scheduled_regularizer_is_logged_at_the_step(tmp_path, jit_compile):
    ramp = kreg.schedules.Linear(0.0, 1e-2, steps=4)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(3, kernel_regularizer=kreg.regularizers.L2(ramp), name="dense")],
        name="ramped",
    )
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=jit_compile)
    x = np.random.default_rng(0).normal(size=(16, 8)).astype("float32")
    y = np.zeros((16, 3), "float32")
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        callbacks=[kreg.callbacks.TrainingBinding(), RegularizationReport(tmp_path)],
    )
    scalars = read_scalars(tmp_path)
    strengths = [min(step / 4, 1.0) * 1e-2 for step in (2, 4, 6)]  # 2 steps per epoch
    np.testing.assert_allclose(
        [v for _, v in scalars["schedules/regularizers/00_dense/kernel/l2"]], strengths, rtol=1e-6
    )
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    penalties = [v for _, v in scalars["penalty/00_dense/kernel"]]
    np.testing.assert_allclose(penalties, [s * np.sum(kernel**2) for s in strengths], rtol=1e-5)


class ScheduledNoise(ScheduledLayer):
    """Additive Gaussian noise whose `stddev` may follow the layer's step (a minimal `ScheduledLayer`)."""

    def __init__(self, stddev=0.1, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.scheduled_parameter("stddev", stddev, lambda name, value: validation.check_float(name, value, low=0.0))

    def call(self, x, training=False):
        if not training:
            return x
        stddev = self.current("stddev")
        self.advance(training)
        noise = keras.random.normal(ops.shape(x), dtype=x.dtype, seed=self.seed_generator)
        return x + ops.cast(stddev, x.dtype) * noise


@pytest.mark.filterwarnings("ignore:RegularizationReport. .fit. has no validation data")
def test_the_rates_of_scheduled_and_concrete_dropout_layers_are_logged(tmp_path, jit_compile):
    """`schedules/<layer path>/<name>`: a ScheduledLayer's stddev at its step, ConcreteDropout's learned rate."""
    ramp = kreg.schedules.Linear(0.0, 0.3, steps=6)
    concrete = ConcreteDropout(keras.layers.Dense(1), init_rate=0.3, seed=1, name="concrete")
    model = keras.Sequential([keras.Input((8,)), ScheduledNoise(ramp, seed=0, name="noise"), concrete], name="net")
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=jit_compile)
    x = np.random.default_rng(0).normal(size=(16, 8)).astype("float32")
    rates = []

    class RecordRate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model  # noqa: B018 (on JAX, reading `self.model` syncs the trained values into the variables)
            rates.append(concrete.rate)

    report = RegularizationReport(tmp_path, layout=False, sparsity_table=False)
    model.fit(x, x[:, :1], batch_size=8, epochs=3, verbose=0, callbacks=[report, RecordRate()])
    scalars = read_scalars(tmp_path)
    steps, stddevs = zip(*scalars["schedules/layers/noise/stddev"])
    assert steps == (0, 1, 2)
    expected = [float(ramp(2 * (epoch + 1))) for epoch in range(3)]  # the layer's step: 2 training calls per epoch
    np.testing.assert_allclose(stddevs, expected, rtol=1e-6)
    assert int(ops.convert_to_numpy(model.get_layer("noise").step.value)) == 6
    logged = [value for _, value in scalars["schedules/layers/concrete/rate"]]
    np.testing.assert_allclose(logged, rates, rtol=1e-6)
    assert len(set(logged)) == 3 and all(0 < rate < 1 for rate in logged)  # learned: it moves every epoch
