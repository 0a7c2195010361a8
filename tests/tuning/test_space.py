"""Tests of `kreg.tuning.space`: sampling, conditional sub-spaces, the kreg objects built, the domains, bad input."""

import keras_tuner
import numpy as np
import pytest

from kreg.constraints import MaxNorm, SpectralNorm
from kreg.layers import DropConnect, GaussianNoise
from kreg.regularizers import L1, L2, ElasticNet
from kreg.tuning.space import Regularization, SearchSpace


def test_defaults_sample_the_first_choice_and_lowest_values():
    reg = SearchSpace().sample(keras_tuner.HyperParameters())
    assert reg.values == {"penalty": "none", "constraint": "none", "dropout": 0.0}
    assert reg.kernel_regularizer is None and reg.kernel_constraint is None and reg.dropout_rate == 0.0


def test_conditional_strengths_exist_only_for_their_technique():
    space = SearchSpace(penalty=("none", "l2", "l1", "elastic_net"))
    for penalty, expected in (("none", set()), ("l2", {"l2"}), ("l1", {"l1"}), ("elastic_net", {"l1", "l2"})):
        hp = keras_tuner.HyperParameters()
        hp.values["penalty"] = penalty
        reg = space.sample(hp)
        assert {k for k in reg.values if k in ("l1", "l2")} == expected
        assert hp.is_active("l2") == ("l2" in expected)
        assert hp.is_active("l1") == ("l1" in expected)


@pytest.mark.parametrize(
    "penalty, cls, proximal",
    [("l2", L2, False), ("l1", L1, True), ("elastic_net", ElasticNet, True)],
)
def test_penalties_become_kreg_regularizers(penalty, cls, proximal):
    space = SearchSpace(penalty=(penalty,), l1=(1e-4, 1e-2), l2=(1e-3, 1e-1))
    hp = keras_tuner.HyperParameters()
    hp.values.update({"penalty": penalty, "l1": 0.002, "l2": 0.03})
    reg = space.sample(hp)
    regularizer = reg.kernel_regularizer
    assert type(regularizer) is cls and reg.proximal == proximal
    config = regularizer.get_config()
    assert config.get("l1", 0.002) == 0.002 and config.get("l2", 0.03) == 0.03


def test_constraints_and_rates():
    space = SearchSpace(constraint=("max_norm", "spectral_norm"), noise=(0.0, 0.3), drop_connect=(0.0, 0.4))
    hp = keras_tuner.HyperParameters()
    hp.values.update({"constraint": "max_norm", "max_norm": 2.0, "dropout": 0.25, "noise": 0.1, "drop_connect": 0.2})
    reg = space.sample(hp)
    assert isinstance(reg.kernel_constraint, MaxNorm) and reg.kernel_constraint.max_value == 2.0
    assert (reg.dropout_rate, reg.noise_stddev, reg.drop_connect_rate) == (0.25, 0.1, 0.2)
    assert isinstance(reg.noise(), GaussianNoise) and isinstance(reg.dense(4), DropConnect)
    hp.values["constraint"] = "spectral_norm"
    assert isinstance(space.sample(hp).kernel_constraint, SpectralNorm)


def test_random_sampling_uses_log_scale_for_strengths():
    space = SearchSpace(penalty=("l2",), l2=(1e-6, 1e-1), dropout=None)
    hp = keras_tuner.HyperParameters()
    space.sample(hp)
    draws = np.array([hp.space[1].random_sample(seed) for seed in range(2000)])
    assert draws.min() >= 1e-6 and draws.max() <= 1e-1
    # Log-uniform: each decade holds about 1/5 of the draws (uniform would put 90% in the last one).
    share_last_decade = np.mean(draws > 1e-2)
    assert 0.15 < share_last_decade < 0.25


def test_domains_keep_declared_ranges_and_log_flags():
    space = SearchSpace(penalty=("none", "l2"), l2=(1e-5, 1e-1), constraint=("none", "max_norm"), noise=(0.0, 0.2))
    assert space.domains() == {
        "penalty": {"type": "discrete", "values": ["none", "l2"]},
        "l2": {"type": "interval", "min": 1e-5, "max": 1e-1, "log": True},
        "constraint": {"type": "discrete", "values": ["none", "max_norm"]},
        "max_norm": {"type": "interval", "min": 0.5, "max": 5.0, "log": True},
        "dropout": {"type": "interval", "min": 0.0, "max": 0.5, "log": False},
        "noise": {"type": "interval", "min": 0.0, "max": 0.2, "log": False},
    }
    assert SearchSpace.from_config(space.get_config()).domains() == space.domains()


def test_probe_switches_every_technique_on():
    reg = SearchSpace(penalty=("none", "l1"), l1=(1e-6, 1e-2), constraint=("none", "max_norm")).probe()
    assert isinstance(reg.kernel_regularizer, L1) and reg.kernel_regularizer.l1 == pytest.approx(1e-4)
    assert isinstance(reg.kernel_constraint, MaxNorm) and reg.dropout_rate == 0.25


def test_reading_marks_attributes_used():
    reg = Regularization(kernel_regularizer=L2(0.1), dropout_rate=0.2)
    assert reg.used == set()
    reg.dropout()
    assert reg.used == {"dropout_rate"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"l2": (1e-1, 1e-3)},
            "Invalid value received for argument `l2`. Expected None or a (min, max) pair of "
            "floats with 0 < min < max (log-uniform). Received: l2=(0.1, 0.001)",
        ),
        ({"l2": (0.1, 0.1)}, "Received: l2=(0.1, 0.1)"),
        (
            {"l1": (0.0, 1e-2)},
            "Expected None or a (min, max) pair of floats with 0 < min < max (log-uniform). Received: l1=(0.0, 0.01)",
        ),
        ({"max_norm": (-1.0, 2.0)}, "Received: max_norm=(-1.0, 2.0)"),
        (
            {"dropout": (0.5, 0.2)},
            "Invalid value received for argument `dropout`. Expected None or a (min, max) pair "
            "of floats with min < max within [0.0, 0.99]. Received: dropout=(0.5, 0.2)",
        ),
        ({"dropout": (0.0, 1.5)}, "Received: dropout=(0.0, 1.5)"),
        ({"noise": (0.1,)}, "Received: noise=(0.1,)"),
        (
            {"penalty": ("l2", "l3")},
            "Invalid value received for argument `penalty`. Expected a name or a non-empty "
            "tuple of names from 'none', 'l2', 'l1', 'elastic_net'. Received: penalty=('l2', 'l3')",
        ),
        ({"penalty": "lasso"}, "Received: penalty='lasso'"),
        ({"penalty": ()}, "Received: penalty=()"),
        (
            {"constraint": ("unit_norm",)},
            "Invalid value received for argument `constraint`. Expected a name or a "
            "non-empty tuple of names from 'none', 'max_norm', 'spectral_norm'. Received: constraint=('unit_norm',)",
        ),
        (
            {"penalty": ("l2",), "l2": None},
            "Invalid value received for argument `l2`. Expected a (min, max) range "
            "when `penalty` includes 'l2' or 'elastic_net'. Received: l2=None",
        ),
    ],
)
def test_bad_input_messages(kwargs, message):
    with pytest.raises(ValueError) as error:
        SearchSpace(**kwargs)
    assert message in str(error.value)
