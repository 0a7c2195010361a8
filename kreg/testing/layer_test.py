"""`run_layer_test`: one call that exercises a whole layer the way Keras's own layer tests do, on public APIs."""

import os
import tempfile

import keras
import numpy as np


def _random_input(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    if "int" in dtype:
        return rng.integers(0, 4, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _assert_shape(output, expected, where):
    actual = tuple(output.shape)
    if expected is not None and tuple(actual) != tuple(expected):
        raise AssertionError(f"{where}: expected output shape {tuple(expected)}, got {actual}")


def run_layer_test(
    layer_cls,
    init_kwargs=None,
    input_shape=(2, 4),
    input_dtype="float32",
    expected_output_shape=None,
    run_training_check=True,
    run_mixed_precision_check=True,
    run_saving_check=True,
    training_identity_at_inference=False,
    seed=0,
):
    """Builds, calls, trains, serializes and reloads a layer, raising `AssertionError` on the first problem.

    Checks, in order:
        1. `get_config()` round trip: `layer_cls.from_config(config).get_config() == config`.
        2. A symbolic call on `keras.Input` and an eager call on a NumPy batch give `expected_output_shape`
           (batch dimension included; `None` skips the shape check) and the same shape as each other.
        3. With `training_identity_at_inference=True`, the eager call with `training=False` returns its input.
        4. A training step (`fit` on one batch, `jit_compile="auto"`) of a model `input -> layer -> Dense(1)` gives a
           finite loss.
        5. `.keras` save and load, without `custom_objects`: the loaded model predicts the same values and trains
           one more step.
        6. Under the `mixed_float16` policy, the layer builds and its output has the policy's compute dtype.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_shape: the full input shape, batch dimension first.
        input_dtype: dtype of the generated input.
        expected_output_shape: the full expected output shape, or `None`.
        run_training_check: run check 4.
        run_mixed_precision_check: run check 6.
        run_saving_check: run check 5.
        training_identity_at_inference: run check 3 (for noise, dropout and augmentation layers).
        seed: seed of the generated data.

    Example:

    >>> from kreg.testing import run_layer_test
    >>> run_layer_test(keras.layers.Dropout, {"rate": 0.5}, input_shape=(4, 3), expected_output_shape=(4, 3),
    ...                training_identity_at_inference=True)
    """
    init_kwargs = dict(init_kwargs or {})
    layer = layer_cls(**init_kwargs)

    # 1. Config round trip.
    config = layer.get_config()
    rebuilt = layer_cls.from_config(config)
    if rebuilt.get_config() != config:
        raise AssertionError(f"get_config round trip changed the config:\n{config}\n!=\n{rebuilt.get_config()}")

    # 2. Symbolic and eager calls.
    inputs = keras.Input(shape=input_shape[1:], batch_size=input_shape[0], dtype=input_dtype)
    symbolic = layer(inputs)
    _assert_shape(symbolic, expected_output_shape, "symbolic call")
    x = _random_input(input_shape, input_dtype, seed)
    eager_layer = layer_cls(**init_kwargs)
    eager = eager_layer(x, training=True)
    _assert_shape(eager, expected_output_shape, "eager call (training=True)")
    inference = eager_layer(x, training=False)
    _assert_shape(inference, expected_output_shape, "eager call (training=False)")
    if tuple(symbolic.shape) != tuple(eager.shape):
        raise AssertionError(f"symbolic output shape {tuple(symbolic.shape)} != eager {tuple(eager.shape)}")

    # 3. Identity at inference.
    if training_identity_at_inference and not np.array_equal(keras.ops.convert_to_numpy(inference), x):
        raise AssertionError("the layer changed its input at inference (training=False)")

    model = None
    if run_training_check or run_saving_check:
        head = keras.layers.Dense(1)(keras.layers.Flatten()(layer_cls(**init_kwargs)(inputs)))
        model = keras.Model(inputs, head)
        model.compile(optimizer="sgd", loss="mse", jit_compile="auto")
        y = _random_input((input_shape[0], 1), "float32", seed + 1)

    # 4. A training step.
    if run_training_check:
        history = model.fit(x, y, batch_size=input_shape[0], epochs=1, verbose=0)
        loss = history.history["loss"][-1]
        if not np.isfinite(loss):
            raise AssertionError(f"training step gave a non-finite loss: {loss}")

    # 5. `.keras` round trip.
    if run_saving_check:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            loaded = keras.saving.load_model(path)
        expected = model.predict(x, verbose=0)
        actual = loaded.predict(x, verbose=0)
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6, err_msg="prediction changed after load")
        loaded.compile(optimizer="sgd", loss="mse", jit_compile="auto")
        history = loaded.fit(x, y, batch_size=input_shape[0], epochs=1, verbose=0)
        if not np.isfinite(history.history["loss"][-1]):
            raise AssertionError("the loaded model's training step gave a non-finite loss")

    # 6. Mixed precision.
    if run_mixed_precision_check:
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_float16")
        try:
            mp_layer = layer_cls(**init_kwargs)
            output = mp_layer(x, training=True)
            dtype = keras.backend.standardize_dtype(output.dtype)
            if "float" in input_dtype and dtype != mp_layer.compute_dtype:
                raise AssertionError(f"mixed_float16: output dtype {dtype} != compute dtype {mp_layer.compute_dtype}")
        finally:
            keras.config.set_dtype_policy(previous)
    return layer
