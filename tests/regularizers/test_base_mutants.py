"""Mutation-testing follow-ups for `kreg.regularizers.base`: `repr` is the class name and the exact config."""

import warnings

import keras
import numpy as np
import pytest

import kreg
from kreg.regularizers import L1, L2, ElasticNet, GroupLasso


@pytest.mark.parametrize(
    "regularizer, expected",
    [
        (L1(0.1), "L1(l1=0.1, proximal=False)"),
        (L2(0.25), "L2(l2=0.25)"),
        (ElasticNet(0.5, 0.125, proximal=True), "ElasticNet(l1=0.5, l2=0.125, proximal=True)"),
        (GroupLasso(0.1), "GroupLasso(factor=0.1, axis=-1, proximal=False)"),
    ],
)
def test_repr_is_the_class_name_and_its_config(regularizer, expected):
    assert repr(regularizer) == expected


PROXIMAL_NEED = (
    "its proximal step will not run, so no weight becomes exactly zero and the penalty has no effect on training"
)
SCHEDULE_NEED = "its scheduled strength cannot read the training step and stays at its step-0 value"
BINDING_ADVICE = "Pass `callbacks=[kreg.callbacks.TrainingBinding()]` (or any kreg callback) to `fit`."


def _messages(regularizer, times=1):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(times):
            regularizer(np.ones((2, 2), "float32"))
    assert all(w.category is UserWarning for w in caught)
    return [str(w.message) for w in caught]


@pytest.mark.parametrize(
    "make, needs",
    [
        (lambda: L1(0.1, proximal=True), [PROXIMAL_NEED]),
        (lambda: L2(kreg.schedules.Linear(0.0, 1.0, steps=10)), [SCHEDULE_NEED]),
        (lambda: L1(kreg.schedules.Linear(0.0, 1.0, steps=10), proximal=True), [PROXIMAL_NEED, SCHEDULE_NEED]),
    ],
)
def test_the_unbound_warning_has_the_exact_text_and_comes_once(make, needs):
    regularizer = make()
    expected = f"{regularizer!r} is used without kreg's training binding: {'; '.join(needs)}. {BINDING_ADVICE}"
    assert _messages(regularizer, times=3) == [expected]


def test_the_unbound_warning_points_at_the_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        L1(0.1, proximal=True)(np.ones((2, 2), "float32"))
    assert caught[0].filename == __file__


def test_a_plain_regularizer_never_warns_and_keras_shape_pass_does_not_use_up_the_warning():
    assert _messages(L2(0.1), times=2) == []
    regularizer = L1(0.1, proximal=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with keras.SymbolicScope():
            regularizer(keras.Variable(np.ones((2, 2), "float32")))
    assert caught == []
    assert len(_messages(regularizer)) == 1
