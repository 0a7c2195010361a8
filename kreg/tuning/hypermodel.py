"""`RegularizationHyperModel`: a keras-tuner `HyperModel` whose `build(hp)` hands the user's `build_fn` ready-made
kreg objects (a `Regularization`) instead of `hp`, and whose `fit` adds kreg's training binding when it is needed.

Reference: O'Malley et al. 2019, KerasTuner (`HyperModel.build`, `HyperModel.fit`).
"""

import keras
import keras_tuner

from kreg.callbacks import ProximalStep, TrainingBinding
from kreg.introspection import unwrap, walk_layers
from kreg.tuning.space import SearchSpace


def _objects_in(model):
    """Ids of every regularizer and constraint the model holds (on its variables and layer attributes), unwrapped."""
    found = set()
    for variable in model.weights:
        for obj in (getattr(variable, "regularizer", None), getattr(variable, "constraint", None)):
            if obj is not None:
                found.add(id(unwrap(obj)))
    for layer in walk_layers(model):
        for name in ("kernel_regularizer", "kernel_constraint", "depthwise_regularizer", "pointwise_regularizer"):
            obj = getattr(layer, name, None)
            if obj is not None:
                found.add(id(unwrap(obj)))
    return found


def check_uses(reg, model, space):
    """Raises if the model built from `reg` ignores what the space searches.

    A model-building function ignores `reg` when it never reads an attribute the space varies (the search would
    tune a knob that does nothing), or reads the regularizer or constraint but the model holds neither.

    Raises:
        keras_tuner.errors.FatalValueError: a `ValueError` that also stops a keras-tuner search at once.
    """
    searched = space.searched()
    unread = [name for name in searched if name not in reg.used]
    if searched and len(unread) == len(searched):
        raise keras_tuner.errors.FatalValueError(
            "The `build_fn` passed to `RegularizationHyperModel` ignores its `reg` argument: it read none of "
            f"{', '.join('reg.' + n for n in searched)}, so every trial would train the same model. Build the model "
            "with them, e.g. `Dense(..., kernel_regularizer=reg.kernel_regularizer)`, `reg.dense(...)`, "
            "`reg.dropout()`."
        )
    if unread:
        raise keras_tuner.errors.FatalValueError(
            f"The `build_fn` never reads {', '.join('reg.' + n for n in unread)}, which the SearchSpace searches: "
            "use it in the model or leave that technique out of the SearchSpace."
        )
    held = _objects_in(model)
    for name in ("kernel_regularizer", "kernel_constraint"):
        obj = reg._data[name]
        if name in reg.used and obj is not None and id(obj) not in held:
            raise keras_tuner.errors.FatalValueError(
                f"The `build_fn` read reg.{name} ({obj!r}) but the model it returned holds it on no layer: pass it "
                f"to a layer (e.g. `Dense(..., {name}=reg.{name})`)."
            )


class RegularizationHyperModel(keras_tuner.HyperModel):
    """A keras-tuner `HyperModel` that builds `build_fn(reg)`, `reg` being a `Regularization` sampled from `space`.

    The user's model code never touches `hp`: it receives the kreg regularizer, constraint and rates to use, and
    returns a compiled `keras.Model`. `fit` adds `kreg.callbacks.ProximalStep` (kreg's training binding) when the
    sampled regularizer is proximal (unless a `TrainingBinding` is among the callbacks already), so `"l1"` and
    `"elastic_net"` trials reach exact zeros. Every `build` checks that the model uses what was sampled
    (`check_uses`), raising a `keras_tuner.errors.FatalValueError` that stops the search.

    Args:
        build_fn: a function `build_fn(reg) -> keras.Model` (compiled).
        space: a `kreg.tuning.SearchSpace` (default: `SearchSpace()`).
        name, tunable: as `keras_tuner.HyperModel`.

    Example:

    >>> def build(reg):
    ...     model = keras.Sequential([keras.Input((64,)), reg.dense(256, activation="relu"), reg.dropout(),
    ...                               keras.layers.Dense(10, activation="softmax")])
    ...     model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ...     return model
    >>> tuner = keras_tuner.RandomSearch(RegularizationHyperModel(build, SearchSpace()), "val_loss", max_trials=10)

    Reference: O'Malley et al. 2019, KerasTuner.
    """

    def __init__(self, build_fn, space=None, name=None, tunable=True):
        if not callable(build_fn):
            raise ValueError(
                f"Invalid value received for argument `build_fn`. Expected a callable build_fn(reg) returning a "
                f"keras.Model. Received: build_fn={build_fn!r}"
            )
        space = SearchSpace() if space is None else space
        if not isinstance(space, SearchSpace):
            raise ValueError(
                "Invalid value received for argument `space`. Expected a kreg.tuning.SearchSpace. "
                f"Received: space={space!r}"
            )
        super().__init__(name=name, tunable=tunable)
        self.build_fn = build_fn
        self.space = space
        self.last_regularization = None

    def build_regularization(self, reg):
        """Builds the model of one `Regularization` and checks that it uses it."""
        model = self.build_fn(reg)
        if not isinstance(model, keras.Model):
            raise keras_tuner.errors.FatalTypeError(
                f"`build_fn(reg)` must return a keras.Model. Received: {model!r} of type {type(model).__name__}"
            )
        check_uses(reg, model, self.space)
        return model

    def build(self, hp):
        reg = self.space.sample(hp)
        self.last_regularization = reg
        return self.build_regularization(reg)

    def preflight(self):
        """Builds one model with every searched technique on (`SearchSpace.probe`) and checks it, before any trial."""
        model = self.build_regularization(self.space.probe())
        del model
        keras.backend.clear_session()

    def fit(self, hp, model, *args, **kwargs):
        """`model.fit(*args, **kwargs)`, with `ProximalStep` added when a proximal regularizer was sampled."""
        callbacks = list(kwargs.pop("callbacks", None) or [])
        regularizer = self.space.sample(hp.copy())._data["kernel_regularizer"]
        proximal = bool(getattr(regularizer, "proximal", False))
        if proximal and not any(isinstance(c, TrainingBinding) for c in callbacks):
            callbacks.append(ProximalStep())
        return model.fit(*args, callbacks=callbacks, **kwargs)


__all__ = ["RegularizationHyperModel", "check_uses"]
