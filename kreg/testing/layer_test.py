"""Layer test helpers on public APIs: `run_layer_test` exercises a whole layer the way Keras's own layer tests do;
`check_random_layer` checks what a layer that draws random numbers owes its users (identity at inference, seeds)."""

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


def _as_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def check_random_layer(
    layer_cls,
    init_kwargs=None,
    input_shape=(8, 16),
    seed=0,
    input_dtype="float32",
    inference_returns_input=True,
):
    """Checks the contract of a layer that draws random numbers, raising `AssertionError` on the first problem.

    The layer must take a `seed` constructor argument (an integer, for its `keras.random.SeedGenerator`). Checks,
    in order, on an eager backend tensor `x` of `input_shape`:

        1. Inference: with `inference_returns_input=True` (noise, dropout, augmentation layers), a call with
           `training=False` returns the input object itself (`out is x`: no copy, no multiplication by 1, no noise);
           with `inference_returns_input=False` (a wrapper such as `ConcreteDropout` that runs a sub-layer), two
           inference calls give identical outputs.
        2. The same seed gives identical training outputs: two layers built with `seed=seed` (the second given the
           weights of the first, so only the random draws can differ) return the same `layer(x, training=True)`.
        3. A different seed (`seed + 1`) gives a different training output.
        4. Successive training calls of one layer draw new noise: its second call differs from its first (a layer
           that passes a fixed integer seed to `keras.random` would apply the same mask at every step).

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments, without `seed`.
        input_shape: the full input shape, batch dimension first (large enough for two draws to differ).
        seed: the layer seed of checks 1-2 (check 3 also uses `seed + 1`); also seeds the generated input.
        input_dtype: dtype of the generated input.
        inference_returns_input: check 1 as `out is x` (`True`) or as a deterministic inference (`False`).

    Returns:
        The first layer built.

    Example:

    >>> from kreg.testing import check_random_layer
    >>> check_random_layer(keras.layers.GaussianNoise, {"stddev": 0.1}, input_shape=(8, 16))
    """
    init_kwargs = dict(init_kwargs or {})
    if "seed" in init_kwargs:
        raise ValueError("check_random_layer sets the layer's `seed` itself: remove it from `init_kwargs`.")
    x = keras.ops.convert_to_tensor(_random_input(input_shape, input_dtype, seed), dtype=input_dtype)

    def build(layer_seed, weights_from=None):
        layer = layer_cls(**init_kwargs, seed=layer_seed)
        out = layer(x, training=False)  # builds the layer; a correct random layer draws nothing at inference
        if weights_from is not None:
            layer.set_weights(weights_from.get_weights())  # `weights` leave out the seed generators' states
        return layer, out

    # 1. Inference.
    layer, inference = build(seed)
    if inference_returns_input:
        if inference is not x:
            raise AssertionError(
                "the layer did not return its input object at inference (training=False): `out is x` is false "
                "(it copied, rescaled or changed the input)"
            )
    elif not np.array_equal(_as_numpy(layer(x, training=False)), _as_numpy(inference)):
        raise AssertionError("two inference calls (training=False) gave different outputs")

    # 2. Same seed, same draws.
    twin, _ = build(seed, weights_from=layer)
    first = _as_numpy(layer(x, training=True))
    if not np.array_equal(first, _as_numpy(twin(x, training=True))):
        raise AssertionError(f"two layers with the same seed ({seed}) gave different training outputs")
    if np.array_equal(first, _as_numpy(x)):
        raise AssertionError("the training call (training=True) returned its input unchanged: no noise was drawn")

    # 3. Different seed, different draws.
    other, _ = build(seed + 1, weights_from=layer)
    if np.array_equal(first, _as_numpy(other(x, training=True))):
        raise AssertionError(f"layers with seeds {seed} and {seed + 1} gave identical training outputs")

    # 4. New draws at every call.
    if np.array_equal(first, _as_numpy(layer(x, training=True))):
        raise AssertionError("two successive training calls of one layer gave identical outputs (a fixed seed?)")
    return layer
