"""`DropBlock1D` and `DropBlock2D`: the whole layers, blocks, schedules, errors, and a digits net with DropPath."""

import keras
import numpy as np
import pytest
from keras import ops
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from kreg import schedules
from kreg.layers.drop_block import DropBlock1D, DropBlock2D
from kreg.layers.drop_path import DropPath, drop_path_rates
from kreg.testing import run_layer_test


def test_run_layer_test_2d_channels_last():
    run_layer_test(
        DropBlock2D,
        {"rate": 0.2, "block_size": 3, "data_format": "channels_last", "seed": 1},
        input_shape=(2, 6, 7, 3),
        expected_output_shape=(2, 6, 7, 3),
        training_identity_at_inference=True,
    )


def test_run_layer_test_2d_channels_first_with_the_papers_ramp():
    run_layer_test(
        DropBlock2D,
        {"rate": schedules.Linear(0.0, 0.1, steps=5000), "block_size": 2, "data_format": "channels_first"},
        input_shape=(2, 3, 5, 5),
        expected_output_shape=(2, 3, 5, 5),
        training_identity_at_inference=True,
    )


def test_run_layer_test_1d():
    run_layer_test(
        DropBlock1D,
        {"rate": 0.2, "block_size": 3, "data_format": "channels_last", "seed": 1},
        input_shape=(2, 9, 3),
        expected_output_shape=(2, 9, 3),
        training_identity_at_inference=True,
    )


def test_the_papers_linear_ramp_is_one_line():
    layer = DropBlock2D(schedules.Linear(0.0, 0.1, steps=5000), block_size=7)
    assert layer.current_values() == {"rate": 0.0}
    layer.step.assign(2500)
    assert layer.current_values()["rate"] == pytest.approx(0.05)
    layer.step.assign(9000)
    assert layer.current_values()["rate"] == pytest.approx(0.1)


def test_data_format_defaults_to_the_image_data_format():
    assert DropBlock2D(0.1, 3).data_format == keras.config.image_data_format()
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        assert DropBlock1D(0.1, 3).data_format == "channels_first"
    finally:
        keras.config.set_image_data_format(previous)


def test_inference_returns_the_input_itself():
    x = ops.convert_to_tensor(np.random.default_rng(0).standard_normal((4, 8, 8, 3)).astype("float32"))
    for layer in (DropBlock2D(0.3, 3), DropBlock2D(schedules.Linear(0.1, 0.3, steps=4), 3), DropBlock2D(0.0, 3)):
        assert layer(x, training=False) is x
        assert layer(x) is x
    assert DropBlock2D(0.0, 3)(x, training=True) is x
    sequence = ops.convert_to_tensor(np.ones((2, 7, 3), "float32"))
    assert DropBlock1D(0.3, 3)(sequence, training=False) is sequence


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_drop_fraction_exact_scale_and_square_blocks(data_format):
    shape = (256, 12, 12, 4) if data_format == "channels_last" else (256, 4, 12, 12)
    x = np.random.default_rng(0).uniform(0.5, 2.0, shape).astype("float32")
    y = ops.convert_to_numpy(DropBlock2D(0.1, 3, data_format=data_format, seed=7)(x, training=True))
    kept = y != 0
    assert abs((1 - kept.mean()) - 0.1) < 0.02
    scale = np.float32(kept.size) / np.float32(kept.sum())
    candidates = [scale, np.nextafter(scale, np.float32(0)), np.nextafter(scale, np.float32(np.inf))]
    assert any(np.array_equal(y[kept], x[kept] * s) for s in candidates)
    # Isolated dropped regions (scipy.ndimage.label on each map) are block_size x block_size squares.
    planes = (np.moveaxis(~kept, -1, 1) if data_format == "channels_last" else ~kept).reshape(-1, 12, 12)
    boxes = []
    for plane in planes:
        labels, _ = ndimage.label(plane)
        boxes += [(s[0].stop - s[0].start, s[1].stop - s[1].start) for s in ndimage.find_objects(labels)]
    assert all(h >= 3 and w >= 3 for h, w in boxes)
    assert sum(box == (3, 3) for box in boxes) >= 0.5 * len(boxes)


def test_1d_drops_runs_of_block_size():
    x = np.random.default_rng(0).uniform(0.5, 2.0, (512, 30, 2)).astype("float32")
    y = ops.convert_to_numpy(DropBlock1D(0.03, 4, seed=2)(x, training=True))
    runs = []
    for sequence in np.moveaxis(y == 0, -1, 1).reshape(-1, 30):
        labels, _ = ndimage.label(sequence)
        runs += [s[0].stop - s[0].start for s in ndimage.find_objects(labels)]
    assert len(runs) > 100 and all(length >= 4 for length in runs)
    assert sum(length == 4 for length in runs) >= 0.85 * len(runs)


def test_same_seed_same_output():
    x = np.random.default_rng(0).standard_normal((8, 9, 9, 2)).astype("float32")
    a = ops.convert_to_numpy(DropBlock2D(0.3, 3, seed=5)(x, training=True))
    np.testing.assert_array_equal(a, ops.convert_to_numpy(DropBlock2D(0.3, 3, seed=5)(x, training=True)))


def test_mixed_precision_output_is_x_times_scale_in_float16():
    keras.config.set_dtype_policy("mixed_float16")  # conftest restores float32
    x = np.random.default_rng(0).uniform(0.5, 2.0, (64, 8, 8, 2)).astype("float32")
    y = DropBlock2D(0.2, 3, seed=0)(x, training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    y = ops.convert_to_numpy(y).astype("float32")
    kept = y != 0
    ratio = y[kept] / x.astype("float16").astype("float32")[kept]
    np.testing.assert_allclose(ratio, kept.size / kept.sum(), rtol=2e-3)


def test_both_layers_train_compiled_in_mixed_precision(jit_compile):
    keras.config.set_dtype_policy("mixed_float16")  # conftest restores float32
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = DropBlock2D(schedules.Linear(0.0, 0.2, steps=4), block_size=3, seed=1)(x)
    x = x + DropPath(0.3, seed=2)(keras.layers.Conv2D(4, 3, padding="same")(x))
    outputs = keras.layers.Dense(1, dtype="float32")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    data = np.random.default_rng(0).standard_normal((16, 6, 6, 2)).astype("float32")
    history = model.fit(data, np.ones((16, 1), "float32"), batch_size=4, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.layers[2].current_values()["rate"] == pytest.approx(0.2)  # 8 steps: the ramp is over
    assert keras.backend.standardize_dtype(model.layers[2](data, training=True).dtype) == "float16"


def test_a_scheduled_rate_follows_the_steps_of_a_compiled_fit(jit_compile):
    layer = DropBlock2D(schedules.Linear(0.0, 0.2, steps=12), block_size=2, seed=0)
    inputs = keras.Input((6, 6, 2))
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(layer(keras.layers.Conv2D(2, 3, padding="same")(inputs))))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    x, y = np.ones((12, 6, 6, 2), "float32"), np.ones((12, 1), "float32")
    big = np.ones((2048, 6, 6, 2), "float32")
    step = 0
    for _ in range(3):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # 3 training steps
        step += 3
        assert int(ops.convert_to_numpy(layer.step.value)) == step
        rate = 0.2 * step / 12
        assert layer.current_values()["rate"] == pytest.approx(rate)
        # The rate in use at this step (one more training call): within 2% of it.
        fraction = float(np.mean(ops.convert_to_numpy(layer(big, training=True)) == 0))
        assert abs(fraction - rate) < 0.02, (step, fraction)
        step += 1
    model.predict(x, verbose=0)
    assert int(ops.convert_to_numpy(layer.step.value)) == step


RATE = "Expected a finite float in [0.0, 1.0)"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rate": 1.0, "block_size": 3}, f"Invalid value received for argument `rate`. {RATE}. Received: rate=1.0"),
        ({"rate": -0.5, "block_size": 3}, f"Invalid value received for argument `rate`. {RATE}. Received: rate=-0.5"),
        (
            {"rate": schedules.Step([10], [0.1, 1.0]), "block_size": 3},
            "Invalid value received for argument `rate`. Expected a float in [0, 1) or a schedule whose values stay "
            "in [0, 1). Received: rate=Step(boundaries=[10], values=[0.1, 1.0])",
        ),
        (
            {"rate": 0.1, "block_size": 0},
            "Invalid value received for argument `block_size`. Expected an integer >= 1. Received: block_size=0",
        ),
        (
            {"rate": 0.1, "block_size": 2.5},
            "Invalid value received for argument `block_size`. Expected an integer >= 1. Received: block_size=2.5",
        ),
        (
            {"rate": 0.1, "block_size": 3, "data_format": "NHWC"},
            "Invalid value received for argument `data_format`. Expected one of 'channels_last', 'channels_first'. "
            "Received: data_format='NHWC'",
        ),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        DropBlock2D(**kwargs)
    assert str(error.value) == message


def test_a_block_larger_than_the_feature_map_fails_at_build_and_at_call():
    message = (
        "Invalid value received for argument `block_size`. Expected an integer in [1, 5] (a block must fit in the "
        "input's {} feature map). Received: block_size=6"
    )
    with pytest.raises(ValueError) as error:
        DropBlock2D(0.1, 6, data_format="channels_last")(keras.Input((5, 8, 3)))
    assert str(error.value) == message.format("5 x 8")
    with pytest.raises(ValueError) as error:
        DropBlock2D(0.1, 6, data_format="channels_first")(np.ones((2, 3, 8, 5), "float32"), training=True)
    assert str(error.value) == message.format("8 x 5")
    with pytest.raises(ValueError) as error:
        DropBlock1D(0.1, 6)(np.ones((2, 5, 3), "float32"), training=True)
    assert str(error.value) == message.format("5")
    # A layer built on a large map, then called on a smaller one: the error comes from `call`, which Keras's
    # traceback filtering wraps in "Exception encountered when calling DropBlock2D.call()" (turned off here).
    layer = DropBlock2D(0.1, 6, data_format="channels_last")
    layer(np.ones((1, 9, 9, 1), "float32"), training=True)
    filtering = keras.config.is_traceback_filtering_enabled()
    keras.config.disable_traceback_filtering()
    try:
        with pytest.raises(ValueError) as error:
            layer(np.ones((1, 5, 8, 1), "float32"), training=True)
    finally:
        if filtering:
            keras.config.enable_traceback_filtering()
    assert str(error.value) == message.format("5 x 8")
    with pytest.raises(ValueError, match=r"Received: block_size=6"):
        layer(np.ones((1, 5, 8, 1), "float32"), training=True)


@pytest.mark.parametrize(
    "layer, shape, expected",
    [
        (DropBlock2D(0.1, 2, data_format="channels_last"), (2, 5, 5), "a rank-4 tensor (batch, height, width, channels)"),
        (DropBlock2D(0.1, 2, data_format="channels_first"), (2, 1, 5, 5, 1), "a rank-4 tensor (batch, channels, height, width)"),
        (DropBlock1D(0.1, 2, data_format="channels_last"), (2, 5, 5, 1), "a rank-3 tensor (batch, steps, channels)"),
    ],
)  # fmt: skip
def test_an_input_of_the_wrong_rank_fails_at_call_time(layer, shape, expected):
    with pytest.raises(ValueError) as error:
        layer(np.ones(shape, "float32"), training=True)
    assert str(error.value) == (
        f"Invalid value received for argument `inputs`. Expected {expected} for data_format={layer.data_format!r}. "
        f"Received: inputs with shape {shape}"
    )


# A small residual net on scikit-learn's digits, with and without DropPath and DropBlock2D --------------------------

EPOCHS, PASSES, TRAIN = 12, 8, 200  # each epoch sees the 200 training images 8 times: 300 steps of 64


def digits_net(regularized, seed=0):
    """Conv(16) -> 2 residual blocks of two Conv(16) -> pooling -> Dense(10); regularized: DropBlock2D after the stem
    and DropPath on each residual branch (the linear depth rule up to 0.2)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    if regularized:
        x = DropBlock2D(0.15, block_size=3, seed=seed)(x)
    for index, rate in enumerate(drop_path_rates(0.2, 2)):
        branch = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
        branch = keras.layers.Conv2D(16, 3, padding="same")(branch)
        if regularized:
            branch = DropPath(rate, seed=seed + 1 + index)(branch)
        x = keras.layers.Activation("relu")(keras.layers.Add()([x, branch]))
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    steps = EPOCHS * -(-TRAIN * PASSES // 64)
    model.compile(
        keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(5e-3, steps)),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=keras.backend.backend() == "jax",  # XLA's compile time would dominate on TensorFlow
    )
    return model


@pytest.fixture
def one_torch_thread(backend):
    """PyTorch's intra-op threads spin against other processes on a shared 2-core machine (30x slower steps)."""
    if backend != "torch":
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.slow
def test_drop_path_and_drop_block_shrink_the_train_validation_gap_on_digits(one_torch_thread):
    data = load_digits()
    images = (data.images / 16.0).astype("float32")[..., None]
    x_train, x_val, y_train, y_val = train_test_split(
        images, data.target.astype("int32"), test_size=0.3, random_state=0, stratify=data.target
    )
    x_train, y_train = x_train[:TRAIN], y_train[:TRAIN]
    results = {}
    for regularized in (False, True):
        model = digits_net(regularized)
        history = model.fit(
            np.tile(x_train, (PASSES, 1, 1, 1)),
            np.tile(y_train, PASSES),
            validation_data=(x_val, y_val),
            validation_batch_size=len(x_val),
            batch_size=64,
            epochs=EPOCHS,
            verbose=0,
        )
        val = np.array(history.history["val_loss"])
        train = model.evaluate(x_train, y_train, batch_size=TRAIN, verbose=0)  # at inference: no drop
        results[regularized] = {"best_val": val.min(), "final_val": val[-1], "train": train, "gap": val[-1] - train}
    print(f"\ndigits ({keras.backend.backend()}): plain {results[False]}, DropPath+DropBlock2D {results[True]}")
    # Measured (seed 0; regularized vs plain): gap 0.220 vs 0.279 (TensorFlow), 0.212 vs 0.428 (JAX), 0.197 vs
    # 0.319 (PyTorch); best validation loss 0.347 vs 0.343, 0.417 vs 0.491, 0.389 vs 0.353.
    assert results[True]["gap"] < results[False]["gap"]
    assert results[True]["best_val"] < results[False]["best_val"] + 0.1
