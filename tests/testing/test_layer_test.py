"""`kreg.testing.run_layer_test` passes for well-behaved Keras layers and catches broken ones."""

import keras
import pytest

from kreg.testing import run_layer_test


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
