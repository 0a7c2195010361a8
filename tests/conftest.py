"""Test setup shared by the whole suite: a fixed seed per test and the default dtype policy restored after it."""

import keras
import pytest


@pytest.fixture(autouse=True)
def _seed_and_clear():
    keras.utils.set_random_seed(1337)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def backend():
    """The Keras backend the suite runs on (`KERAS_BACKEND`)."""
    return keras.backend.backend()


@pytest.fixture
def jit_compile(backend):
    """`True` where the backend compiles a training step (TensorFlow XLA, JAX); PyTorch runs eagerly."""
    return backend in ("tensorflow", "jax")
