"""`MixUp`, `CutMix`, `MixUpCutMix`, `LabelSmoothing`: the call forms, training through `tf.data` (on every backend),
NumPy batches and a `PyDataset`, scheduled numbers and the layer's step, seeds, config round trips and every bad
argument's message. (The math is checked in `tests/ops/test_mixing.py`.)"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kreg import schedules
from kreg.layers.mixing import CutMix, LabelSmoothing, MixingPyDataset, MixUp, MixUpCutMix

LAYERS = {
    "mixup": lambda **k: MixUp(0.4, num_classes=4, **k),
    "cutmix": lambda **k: CutMix(1.0, num_classes=4, **k),
    "mixup-cutmix": lambda **k: MixUpCutMix(0.8, 1.0, mode="elem", label_smoothing=0.1, num_classes=4, **k),
    "label-smoothing": lambda **k: LabelSmoothing(0.1, num_classes=4),
}


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def images(batch=32, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 4, batch)
    x = rng.uniform(size=(batch, 8, 8, 3)).astype("float32") + ids[:, None, None, None].astype("float32")
    return x, ids


def small_model():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(4),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize("name", list(LAYERS))
def test_call_forms_return_the_same_form(name):
    x, y = images(8)
    layer = LAYERS[name](seed=1)
    out = layer(x, y)
    assert isinstance(out, tuple) and tuple(out[0].shape) == x.shape and tuple(out[1].shape) == (8, 4)
    out = layer((x, y))
    assert isinstance(out, tuple) and tuple(out[1].shape) == (8, 4)
    for key in ("inputs", "images"):
        weights = np.ones(8, "float32")
        out = layer({key: x, "labels": y, "sample_weight": weights})
        assert sorted(out) == sorted([key, "labels", "sample_weight"])
        np.testing.assert_array_equal(numpy(out["sample_weight"]), weights)
        np.testing.assert_allclose(numpy(out["labels"]).sum(axis=1), 1.0, atol=1e-6)
    x_in, y_in = layer(x, y, training=False)
    np.testing.assert_array_equal(numpy(x_in), x)
    np.testing.assert_array_equal(numpy(y_in), y)


def test_a_symbolic_call_gives_the_output_spec():
    x, y = keras.Input((8, 8, 3)), keras.Input((1,), dtype="int32")
    out_x, out_y = MixUp(0.2, num_classes=5)(x, y)
    assert tuple(out_x.shape) == (None, 8, 8, 3) and tuple(out_y.shape) == (None, 5) and out_y.dtype == "float32"


@pytest.mark.parametrize("name", list(LAYERS))
def test_trains_a_model_through_tf_data_on_every_backend(name):
    """`ds.map(layer)`: TensorFlow graph tensors inside the map whatever the backend; mixed labels sum to 1."""
    x, y = images(64)
    layer = LAYERS[name](seed=2)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=0).batch(16).map(layer)
    for xb, yb in ds.take(1):
        assert isinstance(xb, tf.Tensor) and tuple(yb.shape) == (16, 4)
        np.testing.assert_allclose(yb.numpy().sum(axis=1), 1.0, atol=1e-6)
    history = small_model().fit(ds, epochs=2, verbose=0, shuffle=False)
    assert np.all(np.isfinite(history.history["loss"]))


def test_trains_a_model_on_numpy_batches_and_a_py_dataset():
    x, y = images(64)
    layer = MixUpCutMix(0.4, 1.0, num_classes=4, seed=3)
    model = small_model()
    for start in range(0, 64, 16):  # NumPy batches: `layer(x, y)`, then one training step
        xb, yb = layer(x[start : start + 16], y[start : start + 16])
        assert np.isfinite(float(model.train_on_batch(xb, yb)))

    calls = []

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            calls.append(index)
            return x[index * 16 : (index + 1) * 16], y[index * 16 : (index + 1) * 16]

    scheduled = MixUp(schedules.Linear(0.4, 0.0, steps=8), num_classes=4, seed=4)
    history = model.fit(MixingPyDataset(Batches(), scheduled), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    # one step per batch read (Keras reads the first batch once more to learn the shapes)
    assert int(numpy(scheduled.step)) == len(calls) >= 8


@pytest.mark.parametrize("where", ["tf.data", "eager"])
def test_a_scheduled_prob_switches_mixing_off_after_its_boundary(where):
    """`prob = Step([3], [1, 0])`: the first 3 batches are mixed, the next ones are not; the step counts batches."""
    x, y = images(8 * 6)
    layer = MixUp(1.0, prob=schedules.Step([3], [1.0, 0.0]), num_classes=4, seed=5)
    if where == "tf.data":
        batches = [(a.numpy(), b.numpy()) for a, b in tf.data.Dataset.from_tensor_slices((x, y)).batch(8).map(layer)]
    else:
        batches = [tuple(numpy(t) for t in layer(x[i : i + 8], y[i : i + 8])) for i in range(0, 48, 8)]
    mixed = [not np.array_equal(bx, x[8 * i : 8 * i + 8]) for i, (bx, _) in enumerate(batches)]
    assert mixed == [True, True, True, False, False, False]
    assert int(numpy(layer.step)) == 6
    assert layer.current_values()["prob"] == 0.0


def test_the_same_seed_gives_the_same_batches_in_tf_data():
    x, y = images(32)

    def run(seed):
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).map(MixUpCutMix(num_classes=4, seed=seed))
        return [b.numpy() for _, b in ds]

    first = run(7)
    np.testing.assert_array_equal(np.stack(first), np.stack(run(7)))
    assert not np.array_equal(first[0], first[1]), "new draws for every batch"
    assert not np.array_equal(np.stack(first), np.stack(run(8)))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_inputs_with_integer_labels(dtype):
    x, y = images(16)
    out_x, out_y = CutMix(1.0, num_classes=4, seed=0)(keras.ops.cast(x, dtype), y)
    assert keras.backend.standardize_dtype(out_x.dtype) == dtype
    assert keras.backend.standardize_dtype(out_y.dtype) == "float32"
    out_x, _ = MixUp(0.4, num_classes=4, seed=0)(keras.ops.cast(x, dtype), y)
    assert keras.backend.standardize_dtype(out_x.dtype) == dtype


def test_a_batch_of_one_passes_unchanged():
    x, y = images(1)
    out_x, out_y = MixUpCutMix(num_classes=4, seed=0)(x, y)
    np.testing.assert_array_equal(numpy(out_x), x)
    np.testing.assert_array_equal(numpy(out_y), np.eye(4, dtype="float32")[y])


@pytest.mark.parametrize(
    "layer",
    [
        MixUp(0.3, prob=0.5, mode="elem", label_smoothing=0.1, num_classes=7, seed=1),
        CutMix(schedules.Linear(1.0, 0.0, steps=10), axis=(1, 2), data_format="channels_last", seed=2),
        MixUpCutMix(0.8, 1.0, switch_prob=schedules.Cosine(0.5, 0.0, steps=5), num_classes=3),
        LabelSmoothing(0.2, num_classes=5),
    ],
    ids=["mixup", "cutmix-scheduled", "mixup-cutmix-scheduled", "label-smoothing"],
)
def test_config_round_trip_without_custom_objects(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(rebuilt) is type(layer) and rebuilt.get_config() == config


def test_the_config_keeps_what_the_user_passed():
    config = MixUp(0.3, prob=0.5, mode="elem", num_classes=7, seed=1).get_config()
    assert {k: config[k] for k in ("alpha", "prob", "mode", "num_classes", "seed", "label_smoothing")} == {
        "alpha": 0.3,
        "prob": 0.5,
        "mode": "elem",
        "num_classes": 7,
        "seed": 1,
        "label_smoothing": 0.0,
    }


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: MixUp(-0.1), "argument `alpha`. Expected a non-negative finite float. Received: alpha=-0.1"),
        (lambda: MixUp(0.2, prob=1.5), r"argument `prob`. Expected a finite float in \[0.0, 1.0\]. Received: prob=1.5"),
        (lambda: CutMix(1.0, mode="pair"), "argument `mode`. Expected one of 'batch', 'elem'. Received: mode='pair'"),
        (lambda: CutMix(1.0, axis=0), r"argument `axis`.*Received: axis=0"),
        (lambda: CutMix(1.0, data_format="nchw"), "argument `data_format`.*Received: data_format='nchw'"),
        (lambda: MixUpCutMix(switch_prob=-0.1), "argument `switch_prob`.*Received: switch_prob=-0.1"),
        (lambda: MixUp(0.2, label_smoothing=2), "argument `label_smoothing`.*Received: label_smoothing=2"),
        (lambda: MixUp(0.2, num_classes=0), "argument `num_classes`. Expected an integer >= 1 or None"),
        (lambda: LabelSmoothing(1.5), "argument `smoothing`.*Received: smoothing=1.5"),
        (lambda: MixUp({"class_name": "Nope", "config": {}}), "argument `alpha`. Expected a number or a schedule"),
    ],
)
def test_bad_arguments_name_the_argument_and_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda layer, x, y: layer(x, np.arange(8)), r"argument `num_classes`.*Received: num_classes=None"),
        (lambda layer, x, y: layer(x, y[:7]), r"argument `labels`. Expected one label per example.*\(7, 3\)"),
        (lambda layer, x, y: layer({"x": x, "labels": y}), "argument `inputs`. Expected a dict with one of the keys"),
        (lambda layer, x, y: layer(x), "argument `labels`. Expected labels.*Received: labels=None"),
    ],
    ids=["sparse-without-num_classes", "batch-sizes", "dict-keys", "no-labels"],
)
def test_bad_calls_name_the_argument(call, message):
    x, y = np.ones((8, 5), "float32"), np.eye(8, 3, dtype="float32")
    with pytest.raises(ValueError, match=message):
        call(MixUp(0.2), x, y)
