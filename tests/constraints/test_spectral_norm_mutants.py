"""Mutation-testing follow-ups for `kreg.constraints.spectral_norm`: the exact-SVD warning (text, once, only for a
variable in matrix mode) and the message of a kernel the conv mode cannot measure."""

import re
import warnings

import keras
import numpy as np
import pytest

from kreg.constraints import SpectralNorm


def _warnings(constraint, w, times=1):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(times):
            constraint(w)
    assert all(w.category is UserWarning for w in caught)
    return caught


def test_the_exact_svd_warning_has_the_exact_text_points_at_the_caller_and_comes_once():
    variable = keras.Variable(np.eye(3, dtype="float32") * 2.0, name="kernel")
    constraint = SpectralNorm(1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        constraint(variable)
        constraint(variable)
        constraint(variable)
    assert [str(w.message) for w in caught] == [
        f"SpectralNorm(mode='matrix') on kernel {variable.path!r} has no persistent power-iteration vector and "
        "computes an exact SVD at every step. Pass `callbacks=[kreg.callbacks.TrainingBinding()]` (or any "
        "kreg callback) to `fit` for the one-iteration-per-step estimate."
    ]
    assert caught[0].filename == __file__


def test_no_exact_svd_warning_for_a_tensor_or_in_conv_mode():
    assert _warnings(SpectralNorm(1.0), np.eye(3, dtype="float32"), times=2) == []
    kernel = keras.Variable(np.ones((3, 3, 1, 1), "float32"))
    assert _warnings(SpectralNorm(1.0, mode="conv", input_size=(4, 4)), kernel, times=2) == []


def test_a_kernel_the_conv_mode_cannot_measure_is_named_in_the_message():
    constraint = SpectralNorm(1.0, mode="conv", input_size=(2, 2))
    expected = "SpectralNorm(mode='conv', input_size=[2, 2]) cannot measure a kernel of shape (3, 3, 1, 1): "
    with pytest.raises(ValueError, match="^" + re.escape(expected) + "The kernel's spatial size 3"):
        constraint.sigma(np.ones((3, 3, 1, 1), "float32"))
