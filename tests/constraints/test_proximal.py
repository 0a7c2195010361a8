"""`ProximalConstraint`: the proximal step first, then the variable's own constraint, against hand-computed values.

The order matters for any constraint that is not coordinate-wise monotone like `NonNeg`: projecting onto a norm ball
and then soft-thresholding is not the same as soft-thresholding and then projecting. ISTA with a constraint (Parikh &
Boyd 2014, "Proximal Algorithms", 4.2) applies the proximal map of the penalty to the gradient step and the
projection last, so the variable always satisfies its constraint after an update.
"""

import keras
import numpy as np
import pytest

import kreg
from kreg.constraints import MaxNorm, ProximalConstraint
from kreg.regularizers import L1, ElasticNet

# Columns (one unit's incoming weights each): c0 = [3, 0.5] (norm 3.04), c1 = [0.4, -2] (norm 2.04).
KERNEL = np.array([[3.0, 0.4], [0.5, -2.0]], "float32")
LR, L1_STRENGTH = 0.1, 5.0  # threshold lr * l1 = 0.5

# Soft thresholding by 0.5: c0 -> [2.5, 0], c1 -> [0, -1.5]; then the constraint, per column.
EXPECTED = {
    # MaxNorm(1): both columns are longer than 1 and are scaled to unit norm.
    "max_norm_1": np.array([[1.0, 0.0], [0.0, -1.0]]),
    # MaxNorm(2): c0 (norm 2.5) -> [2, 0]; c1 (norm 1.5) is inside the ball and unchanged.
    "max_norm_2": np.array([[2.0, 0.0], [0.0, -1.5]]),
    # UnitNorm: every column to norm 1, shorter ones included.
    "unit_norm": np.array([[1.0, 0.0], [0.0, -1.0]]),
}
# The wrong order (constraint first, then soft thresholding) gives, e.g. for MaxNorm(2):
# c0 -> 2 * [3, 0.5] / 3.0414 = [1.973, 0.329] -> [1.473, 0]; c1 -> [0.392, -1.961] -> [0, -1.461].


def constraint(name):
    return {
        "max_norm_1": lambda: MaxNorm(1.0, axis=0),
        "max_norm_2": lambda: MaxNorm(2.0, axis=0),
        "unit_norm": lambda: keras.constraints.UnitNorm(axis=0),
    }[name]()


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("regularizer", [L1(L1_STRENGTH, proximal=True), ElasticNet(L1_STRENGTH, 0.3, proximal=True)])
def test_the_variables_constraint_is_applied_after_the_proximal_step(name, regularizer):
    wrapper = ProximalConstraint(regularizer, keras.optimizers.SGD(LR), wrapped=constraint(name))
    actual = keras.ops.convert_to_numpy(wrapper(keras.ops.convert_to_tensor(KERNEL)))
    np.testing.assert_allclose(actual, EXPECTED[name], rtol=1e-6, atol=1e-7)


def test_without_a_wrapped_constraint_it_is_the_proximal_step():
    wrapper = ProximalConstraint(L1(L1_STRENGTH, proximal=True), keras.optimizers.SGD(LR))
    actual = keras.ops.convert_to_numpy(wrapper(keras.ops.convert_to_tensor(KERNEL)))
    np.testing.assert_allclose(actual, [[2.5, 0.0], [0.0, -1.5]], rtol=1e-6)


@pytest.mark.parametrize("name", ["max_norm_2", "unit_norm"])
def test_one_bound_training_step_matches_the_hand_computed_value(name, jit_compile):
    # Zero inputs and targets: the loss gradient is zero, so one SGD step leaves the kernel as it was and the update
    # is exactly proximal step then constraint.
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                2,
                use_bias=False,
                kernel_initializer=keras.initializers.Constant(KERNEL),
                kernel_regularizer=L1(L1_STRENGTH, proximal=True),
                kernel_constraint=constraint(name),
            ),
        ]
    )
    model.compile(keras.optimizers.SGD(LR), "mse", jit_compile=jit_compile)
    zeros = np.zeros((4, 2), "float32")
    model.fit(zeros, zeros, batch_size=4, epochs=1, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
    actual = keras.ops.convert_to_numpy(model.layers[0].kernel)
    np.testing.assert_allclose(actual, EXPECTED[name], rtol=1e-6, atol=1e-7)
    assert type(model.layers[0].kernel.constraint) is type(constraint(name)), "the user's constraint is back"


def test_config_is_the_wrapped_constraints():
    wrapper = ProximalConstraint(L1(1.0, proximal=True), keras.optimizers.SGD(LR), wrapped=MaxNorm(2.0, axis=0))
    restored = ProximalConstraint.from_config(wrapper.get_config())
    assert type(restored) is MaxNorm and restored.get_config() == {"max_value": 2.0, "axis": 0}
    assert ProximalConstraint.from_config(ProximalConstraint(L1(1.0), keras.optimizers.SGD(LR)).get_config()) is None
