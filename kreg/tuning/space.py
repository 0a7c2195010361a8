"""`SearchSpace`: a declarative search space of regularization, and `Regularization`, one sampled point of it.

A `SearchSpace` declares which techniques are searched and over which ranges, with the scales that suit them:
penalty strengths log-uniform (an L2 strength matters by its order of magnitude), rates uniform, techniques as
choices whose strengths live in conditional sub-spaces (keras-tuner's `conditional_scope`: `l1` exists only when
`penalty` is `"l1"` or `"elastic_net"`). `SearchSpace.sample(hp)` declares the space on a keras-tuner
`HyperParameters` and returns a `Regularization` holding ready-made kreg objects, so a model-building function never
touches `hp`.

References: Bergstra & Bengio 2012, "Random search for hyper-parameter optimization" (log scales for strengths);
O'Malley et al. 2019, KerasTuner (`HyperParameters`, conditional scopes).
"""

import math

import keras

from kreg import validation
from kreg.constraints import MaxNorm, SpectralNorm
from kreg.layers import DropConnect, GaussianNoise
from kreg.regularizers import L1, L2, ElasticNet

#: Penalty techniques `SearchSpace(penalty=...)` knows; `"l1"` and `"elastic_net"` are proximal (exact zeros).
PENALTIES = ("none", "l2", "l1", "elastic_net")
#: Constraint techniques `SearchSpace(constraint=...)` knows.
CONSTRAINTS = ("none", "max_norm", "spectral_norm")
#: The rate dimensions (uniform), and the `Regularization` attribute each one sets.
RATES = {"dropout": "dropout_rate", "noise": "noise_stddev", "drop_connect": "drop_connect_rate"}


def _check_techniques(name, value, known):
    names = (value,) if isinstance(value, str) else value
    expected = "a name or a non-empty tuple of names from " + ", ".join(repr(k) for k in known)
    if not isinstance(names, (tuple, list)) or not names:
        raise validation.invalid(name, expected, value)
    for item in names:
        if item not in known:
            raise validation.invalid(name, expected, value)
    if len(set(names)) != len(names):
        raise validation.invalid(name, expected + " without repeats", value)
    return tuple(names)


def _check_range(name, value, log, low=None, high=None):
    """A `(min, max)` pair with `min < max` (and `min > 0` for a log range); `None` turns the dimension off."""
    if value is None:
        return None
    bounds = f" within [{low}, {high}]" if low is not None and high is not None else ""
    if log:
        expected = f"None or a (min, max) pair of floats with 0 < min < max (log-uniform){bounds}"
    else:
        expected = f"None or a (min, max) pair of floats with min < max{bounds}"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise validation.invalid(name, expected, value)
    lo, hi = value
    for bound in (lo, hi):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            raise validation.invalid(name, expected, value)
    if lo >= hi or (log and lo <= 0) or (low is not None and lo < low) or (high is not None and hi > high):
        raise validation.invalid(name, expected, value)
    return (float(lo), float(hi))


class Regularization:
    """One sampled point of a `SearchSpace`: the kreg objects a model-building function puts in its model.

    Attributes (each `None` or 0 when its technique was not sampled):
        kernel_regularizer: a kreg regularizer (`L2`, `L1(proximal=True)`, `ElasticNet(proximal=True)`) or `None`.
        kernel_constraint: a kreg constraint (`MaxNorm`, `SpectralNorm`) or `None`.
        dropout_rate: a float in [0, 1).
        noise_stddev: standard deviation of input Gaussian noise, a float >= 0.
        drop_connect_rate: a float in [0, 1).
        values: the sampled hyperparameter values (active ones only), a dict.

    Reading an attribute or calling a helper marks it as used; `RegularizationHyperModel` uses that to catch a
    model-building function that ignores what was sampled.

    Example:

    >>> def build(reg):
    ...     return keras.Sequential([
    ...         keras.Input((64,)),
    ...         reg.noise(),
    ...         reg.dense(256, activation="relu"),
    ...         reg.dropout(),
    ...         keras.layers.Dense(10, activation="softmax"),
    ...     ])

    Reference: Srivastava et al. 2014, "Dropout" (dropout with a max-norm constraint).
    """

    _FIELDS = ("kernel_regularizer", "kernel_constraint", "dropout_rate", "noise_stddev", "drop_connect_rate")

    def __init__(
        self,
        kernel_regularizer=None,
        kernel_constraint=None,
        dropout_rate=0.0,
        noise_stddev=0.0,
        drop_connect_rate=0.0,
        values=None,
    ):
        self._data = {
            "kernel_regularizer": kernel_regularizer,
            "kernel_constraint": kernel_constraint,
            "dropout_rate": float(dropout_rate),
            "noise_stddev": float(noise_stddev),
            "drop_connect_rate": float(drop_connect_rate),
        }
        self.values = dict(values or {})
        self.used = set()

    def _get(self, name):
        self.used.add(name)
        return self._data[name]

    kernel_regularizer = property(lambda self: self._get("kernel_regularizer"))
    kernel_constraint = property(lambda self: self._get("kernel_constraint"))
    dropout_rate = property(lambda self: self._get("dropout_rate"))
    noise_stddev = property(lambda self: self._get("noise_stddev"))
    drop_connect_rate = property(lambda self: self._get("drop_connect_rate"))

    @property
    def proximal(self):
        """Whether the sampled regularizer is proximal (it needs kreg's training binding for its exact zeros)."""
        regularizer = self._data["kernel_regularizer"]
        return bool(getattr(regularizer, "proximal", False))

    def dense(self, units, **kwargs):
        """A `keras.layers.Dense` with the sampled kernel regularizer and constraint (wrapped in `DropConnect` when
        a DropConnect rate was sampled)."""
        layer = keras.layers.Dense(
            units, kernel_regularizer=self.kernel_regularizer, kernel_constraint=self.kernel_constraint, **kwargs
        )
        return self.drop_connect(layer)

    def drop_connect(self, layer):
        """`kreg.layers.DropConnect(layer, rate)` when a positive DropConnect rate was sampled, else `layer`."""
        rate = self.drop_connect_rate
        return DropConnect(layer, rate) if rate > 0 else layer

    def dropout(self):
        """A `keras.layers.Dropout` with the sampled rate (rate 0 is the identity)."""
        return keras.layers.Dropout(self.dropout_rate)

    def noise(self):
        """A `kreg.layers.GaussianNoise` with the sampled standard deviation (0 is the identity)."""
        return GaussianNoise(self.noise_stddev)

    def __repr__(self):
        return f"Regularization({self.values})"


class SearchSpace:
    """A declarative space of regularization techniques and strengths for keras-tuner.

    Dimensions (a range `None` leaves that technique out of the search):

    - `penalty`: the kernel penalties searched, from `"none"`, `"l2"`, `"l1"` (proximal: exact zeros, needs kreg's
      training binding, which `RegularizationHyperModel` adds) and `"elastic_net"` (proximal L1 plus L2). Their
      strengths `l2`, `l1` are log-uniform and conditional: `l1` exists only for `"l1"` and `"elastic_net"`.
    - `constraint`: from `"none"`, `"max_norm"` (its `max_value` log-uniform in `max_norm`) and `"spectral_norm"`.
    - `dropout`, `noise`, `drop_connect`: rates, uniform in their ranges (`noise` is a Gaussian standard deviation).

    Every argument is checked here, before any trial: a range with `min >= max`, a log range touching 0 or an
    unknown technique name raises `ValueError` in kreg's message shape.

    Args:
        penalty: a technique name or a tuple of them (searched as a choice; the first is the default).
        l2: `(min, max)` of the L2 strength, log-uniform.
        l1: `(min, max)` of the L1 strength, log-uniform.
        constraint: a constraint name or a tuple of them.
        max_norm: `(min, max)` of `MaxNorm`'s `max_value`, log-uniform.
        dropout: `(min, max)` of the dropout rate, uniform in [0, 1), or `None`.
        noise: `(min, max)` of the Gaussian noise standard deviation, uniform, or `None`.
        drop_connect: `(min, max)` of the DropConnect rate, uniform in [0, 1), or `None`.

    Example:

    >>> space = kreg.tuning.SearchSpace(penalty=("none", "l2", "l1"), dropout=(0.0, 0.5))
    >>> reg = space.sample(keras_tuner.HyperParameters())
    >>> reg.kernel_regularizer, reg.dropout_rate
    (None, 0.0)

    Reference: Bergstra & Bengio 2012, "Random search for hyper-parameter optimization", JMLR 13.
    """

    def __init__(
        self,
        penalty=PENALTIES,
        l2=(1e-6, 1e-1),
        l1=(1e-6, 1e-1),
        constraint=("none",),
        max_norm=(0.5, 5.0),
        dropout=(0.0, 0.5),
        noise=None,
        drop_connect=None,
    ):
        self.penalty = _check_techniques("penalty", penalty, PENALTIES)
        self.constraint = _check_techniques("constraint", constraint, CONSTRAINTS)
        self.l2 = _check_range("l2", l2, log=True)
        self.l1 = _check_range("l1", l1, log=True)
        self.max_norm = _check_range("max_norm", max_norm, log=True)
        self.dropout = _check_range("dropout", dropout, log=False, low=0.0, high=0.99)
        self.noise = _check_range("noise", noise, log=False, low=0.0, high=math.inf)
        self.drop_connect = _check_range("drop_connect", drop_connect, log=False, low=0.0, high=0.99)
        if self.l2 is None and any(p in self.penalty for p in ("l2", "elastic_net")):
            raise validation.invalid("l2", "a (min, max) range when `penalty` includes 'l2' or 'elastic_net'", l2)
        if self.l1 is None and any(p in self.penalty for p in ("l1", "elastic_net")):
            raise validation.invalid("l1", "a (min, max) range when `penalty` includes 'l1' or 'elastic_net'", l1)
        if self.max_norm is None and "max_norm" in self.constraint:
            raise validation.invalid("max_norm", "a (min, max) range when `constraint` includes 'max_norm'", max_norm)

    # The space ---------------------------------------------------------------------------------------------

    def _rate_ranges(self):
        return {name: getattr(self, name) for name in RATES if getattr(self, name) is not None}

    def searched(self):
        """The `Regularization` attributes this space varies (what a model-building function must read)."""
        fields = []
        if self.penalty != ("none",):
            fields.append("kernel_regularizer")
        if self.constraint != ("none",):
            fields.append("kernel_constraint")
        fields += [RATES[name] for name in self._rate_ranges()]
        return fields

    def sample(self, hp):
        """Declares this space on `hp` (a `keras_tuner.HyperParameters`) and returns the `Regularization` it holds.

        With a fresh `hp`, every dimension takes its default (first technique, lowest strength, lowest rate).
        """
        penalty = hp.Choice("penalty", list(self.penalty))
        l1 = l2 = None
        with_l2 = [p for p in ("l2", "elastic_net") if p in self.penalty]
        with_l1 = [p for p in ("l1", "elastic_net") if p in self.penalty]
        if with_l2:
            with hp.conditional_scope("penalty", with_l2):
                l2 = hp.Float("l2", *self.l2, sampling="log")
        if with_l1:
            with hp.conditional_scope("penalty", with_l1):
                l1 = hp.Float("l1", *self.l1, sampling="log")
        constraint = hp.Choice("constraint", list(self.constraint))
        max_value = None
        if self.max_norm is not None and "max_norm" in self.constraint:
            with hp.conditional_scope("constraint", ["max_norm"]):
                max_value = hp.Float("max_norm", *self.max_norm, sampling="log")
        rates = {name: hp.Float(name, *bounds) for name, bounds in self._rate_ranges().items()}
        return self.regularization(
            penalty=penalty, l1=l1, l2=l2, constraint=constraint, max_norm=max_value, values=dict(hp.values), **rates
        )

    def regularization(
        self,
        penalty="none",
        l1=None,
        l2=None,
        constraint="none",
        max_norm=None,
        dropout=0.0,
        noise=0.0,
        drop_connect=0.0,
        values=None,
    ):
        """The `Regularization` of given values (what `sample` returns; also handy to build one point by hand)."""
        validation.check_choice("penalty", penalty, PENALTIES)
        validation.check_choice("constraint", constraint, CONSTRAINTS)
        regularizer = None
        if penalty == "l2":
            regularizer = L2(l2)
        elif penalty == "l1":
            regularizer = L1(l1, proximal=True)
        elif penalty == "elastic_net":
            regularizer = ElasticNet(l1=l1, l2=l2, proximal=True)
        kernel_constraint = None
        if constraint == "max_norm":
            kernel_constraint = MaxNorm(max_norm)
        elif constraint == "spectral_norm":
            kernel_constraint = SpectralNorm()
        if values is None:
            values = {"penalty": penalty, "constraint": constraint}
            values.update({k: v for k, v in (("l1", l1), ("l2", l2), ("max_norm", max_norm)) if v is not None})
            rates = (("dropout", dropout), ("noise", noise), ("drop_connect", drop_connect))
            values.update({name: rate for name, rate in rates if name in self._rate_ranges()})
        return Regularization(
            kernel_regularizer=regularizer,
            kernel_constraint=kernel_constraint,
            dropout_rate=dropout or 0.0,
            noise_stddev=noise or 0.0,
            drop_connect_rate=drop_connect or 0.0,
            values=values,
        )

    def probe(self):
        """A `Regularization` with every searched technique switched on (first non-`"none"` penalty and constraint,
        rates at the middle of their ranges): what the pre-flight check builds a model with."""
        penalty = next((p for p in self.penalty if p != "none"), "none")
        constraint = next((c for c in self.constraint if c != "none"), "none")
        rates = {name: (lo + hi) / 2 or hi for name, (lo, hi) in self._rate_ranges().items()}
        return self.regularization(
            penalty=penalty,
            l1=self.l1 and math.sqrt(self.l1[0] * self.l1[1]),
            l2=self.l2 and math.sqrt(self.l2[0] * self.l2[1]),
            constraint=constraint,
            max_norm=self.max_norm and math.sqrt(self.max_norm[0] * self.max_norm[1]),
            **rates,
        )

    def domains(self):
        """The declared domains, `{name: {"type": "discrete", "values": [...]} | {"type": "interval", "min": ..,
        "max": .., "log": bool}}`, for the HParams dashboard (`kreg.tensorboard.hparams.write_experiment`)."""
        domains = {"penalty": {"type": "discrete", "values": list(self.penalty)}}
        if self.l2 is not None and any(p in self.penalty for p in ("l2", "elastic_net")):
            domains["l2"] = {"type": "interval", "min": self.l2[0], "max": self.l2[1], "log": True}
        if self.l1 is not None and any(p in self.penalty for p in ("l1", "elastic_net")):
            domains["l1"] = {"type": "interval", "min": self.l1[0], "max": self.l1[1], "log": True}
        domains["constraint"] = {"type": "discrete", "values": list(self.constraint)}
        if self.max_norm is not None and "max_norm" in self.constraint:
            domains["max_norm"] = {"type": "interval", "min": self.max_norm[0], "max": self.max_norm[1], "log": True}
        for name, (lo, hi) in self._rate_ranges().items():
            domains[name] = {"type": "interval", "min": lo, "max": hi, "log": False}
        return domains

    def get_config(self):
        """The constructor arguments, as plain Python values."""
        return {
            "penalty": list(self.penalty),
            "l2": self.l2 and list(self.l2),
            "l1": self.l1 and list(self.l1),
            "constraint": list(self.constraint),
            "max_norm": self.max_norm and list(self.max_norm),
            "dropout": self.dropout and list(self.dropout),
            "noise": self.noise and list(self.noise),
            "drop_connect": self.drop_connect and list(self.drop_connect),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"SearchSpace({self.get_config()})"


__all__ = ["CONSTRAINTS", "PENALTIES", "RATES", "Regularization", "SearchSpace"]
