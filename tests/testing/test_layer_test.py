"""`kreg.testing.run_layer_test` and `check_random_layer` pass for well-behaved Keras layers and catch broken ones."""

import keras
import pytest

from kreg.testing import run_layer_test
from kreg.testing.layer_test import check_random_layer


def test_passes_for_keras_dense():
    run_layer_test(keras.layers.Dense, {"units": 3}, input_shape=(2, 4), expected_output_shape=(2, 3))


def test_passes_for_dropout_identity_at_inference():
    run_layer_test(
        keras.layers.Dropout,
        {"rate": 0.5},
        input_shape=(4, 3),
        expected_output_shape=(4, 3),
        training_identity_at_inference=True,
    )


def test_catches_wrong_output_shape():
    with pytest.raises(AssertionError, match="expected output shape"):
        run_layer_test(keras.layers.Dense, {"units": 3}, input_shape=(2, 4), expected_output_shape=(2, 5))


class _NotIdentityAtInference(keras.layers.Layer):
    def call(self, x, training=None):
        return x * 2.0


def test_catches_layer_active_at_inference():
    with pytest.raises(AssertionError, match="changed its input at inference"):
        run_layer_test(
            _NotIdentityAtInference,
            input_shape=(2, 3),
            training_identity_at_inference=True,
            run_training_check=False,
            run_saving_check=False,
        )


class _BadConfig(keras.layers.Layer):
    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor + 1}


def test_catches_config_that_does_not_round_trip():
    with pytest.raises(AssertionError, match="round trip"):
        run_layer_test(_BadConfig, {"factor": 2.0}, input_shape=(2, 3))


# `check_random_layer` ------------------------------------------------------------------------------------------


class _Noise(keras.layers.Layer):
    """Additive Gaussian noise in training; `mode` breaks one rule of random layers on purpose."""

    def __init__(self, stddev=0.5, mode="correct", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev, self.mode, self.seed = stddev, mode, seed
        # "ignores_seed": a generator seeded at random, whatever `seed` says.
        self.seed_generator = keras.random.SeedGenerator(None if mode == "ignores_seed" else seed)

    def call(self, x, training=False):
        if self.mode == "noisy_at_inference" or (training and self.mode != "no_noise"):
            # "fixed_seed": the integer seed itself, the same draws at every call.
            seed = self.seed if self.mode == "fixed_seed" else self.seed_generator
            return x + keras.random.normal(keras.ops.shape(x), stddev=self.stddev, seed=seed)
        if self.mode == "copies_at_inference":
            return x * 1.0
        return x


def test_check_random_layer_passes_for_keras_noise_and_dropout_layers():
    check_random_layer(keras.layers.GaussianNoise, {"stddev": 0.1})
    check_random_layer(keras.layers.Dropout, {"rate": 0.5}, input_shape=(4, 8, 3), seed=3)
    check_random_layer(_Noise)


@pytest.mark.parametrize(
    "mode, message",
    [
        ("noisy_at_inference", r"did not return its input object at inference \(training=False\)"),
        ("copies_at_inference", r"did not return its input object at inference"),
        ("ignores_seed", r"two layers with the same seed \(0\) gave different training outputs"),
        ("fixed_seed", r"two successive training calls of one layer gave identical outputs"),
        ("no_noise", r"returned its input unchanged: no noise was drawn"),
    ],
)
def test_check_random_layer_catches_a_wrong_layer(mode, message):
    with pytest.raises(AssertionError, match=message):
        check_random_layer(_Noise, {"mode": mode})


def test_check_random_layer_catches_different_seeds_giving_the_same_draws():
    class _OneSeed(_Noise):
        def __init__(self, seed=None, **kwargs):
            super().__init__(seed=7, **kwargs)  # every instance uses seed 7, whatever it was given

    with pytest.raises(AssertionError, match=r"layers with seeds 0 and 1 gave identical training outputs"):
        check_random_layer(_OneSeed)


def test_check_random_layer_deterministic_inference_mode_for_wrappers():
    """`inference_returns_input=False` checks instead that inference is deterministic (a layer that runs others)."""
    check_random_layer(_Noise, {"mode": "copies_at_inference"}, inference_returns_input=False)
    with pytest.raises(AssertionError, match=r"two inference calls \(training=False\) gave different outputs"):
        check_random_layer(_Noise, {"mode": "noisy_at_inference"}, inference_returns_input=False)
    with pytest.raises(ValueError, match="sets the layer's `seed` itself"):
        check_random_layer(_Noise, {"seed": 1})
