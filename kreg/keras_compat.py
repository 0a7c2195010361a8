"""The only module of kreg that relies on Keras behaviour outside its documented public API.

Each function here exists because some backend leaves no public route for what kreg's training binding needs; each
is tested in `tests/test_keras_compat.py` against the installed Keras, and raises (never silently falls back) when
what it relies on is gone, so a Keras release that changes it fails loudly in kreg's suite and at the user's first
`fit`, instead of freezing a schedule or dropping a proximal step without a word.

- `in_symbolic_scope()`: whether the code runs in Keras's shape-only pass (`backend.compute_output_spec`, which the
  trainers use to build a model before the first `fit` step, inside `keras.SymbolicScope`). Keras exports the scope
  class but no reader; entering a fresh scope and reading the `original_scope` it saved tells, without side effect.
- `raw_iterations(optimizer)`: the optimizer's update counter before gradient accumulation (`optimizer.iterations`
  is `raw // gradient_accumulation_steps`); it tells whether an `apply` really updates the weights.
- `remove_optimizer_variables(optimizer, variables)`: the inverse of the public `optimizer.add_variable`, so that the
  binding's SpectralNorm vectors do not outlive `fit` (nor end up in a saved optimizer state), and
  `restore_optimizer_variables` to put the same ones back when the next `fit` reuses the binding (and its traced step).
- `JaxStepThreading`: JAX's compiled train step is a pure function of `state = (trainable_variables,
  non_trainable_variables, optimizer_variables, metrics_variables)` (the layout documented in Keras's guide
  "Customizing what happens in `fit()` with JAX"). The optimizer's iteration count is in `optimizer_variables`, which
  Keras does not map while it computes the loss, so a penalty or a layer reading `optimizer.iterations` there would
  read a constant frozen at trace time. `JaxStepThreading` wraps the model's `train_step` to take the count from
  `state` (matched by identity against `optimizer.variables`, raising if the layout differs), and its `test_step`
  to read the host's count (updated by the binding before each evaluation) through `jax.pure_callback`, so
  validation penalties use the current strength without re-tracing. TensorFlow and PyTorch read the live variable
  and need none of this.
- `tf_graph_backend()`: Keras's TensorFlow backend ops as a namespace, for data code running inside a TensorFlow
  graph (a `tf.data` map) while the Keras backend is JAX or PyTorch, where `keras.ops` would turn the graph tensors
  into the other backend's arrays and fail. Keras's own preprocessing layers switch backends the same way, with an
  internal `DynamicBackend` (reached here through the public `keras.layers.Rescaling` layer's `backend` attribute,
  never by importing Keras's private modules); the namespace adds a TensorFlow-side `SeedGenerator` (Keras's
  undocumented `backend=` argument) and `host_call`, running a Python function on the host once per element.
"""

import sys
import warnings

import keras


def in_symbolic_scope():
    """Whether the caller runs inside `keras.SymbolicScope` (Keras's shape-only build pass)."""
    probe = keras.SymbolicScope()
    if not hasattr(probe, "__enter__"):
        raise RuntimeError("kreg.keras_compat: keras.SymbolicScope is no longer a context manager.")
    with probe:  # entering records the scope it replaces (`original_scope`); leaving restores it
        pass
    if not hasattr(probe, "original_scope"):
        raise RuntimeError(
            "kreg.keras_compat: keras.SymbolicScope no longer records `original_scope`; kreg cannot tell Keras's "
            "shape-only build pass from a training step. Please report this with your Keras version."
        )
    return probe.original_scope is not None


def inner_optimizer(optimizer):
    """The optimizer that owns the variables and the learning rate (a `LossScaleOptimizer` is unwrapped)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def raw_iterations(optimizer):
    """The optimizer's raw update counter (`apply` calls, gradient accumulation not divided out)."""
    counter = getattr(inner_optimizer(optimizer), "_iterations", None)
    if not isinstance(counter, keras.Variable):
        raise RuntimeError(
            "kreg.keras_compat: the optimizer has no `_iterations` variable any more; kreg cannot tell which "
            "`apply` calls update the weights under gradient accumulation. Please report this with your Keras version."
        )
    return counter


def remove_optimizer_variables(optimizer, variables):
    """Removes `variables` (made by `optimizer.add_variable`) from `optimizer.variables`."""
    store = getattr(optimizer, "_variables", None)
    if not isinstance(store, list):
        raise RuntimeError("kreg.keras_compat: the optimizer no longer keeps its variables in `_variables`.")
    doomed = {id(v) for v in variables}
    for index in reversed([i for i, v in enumerate(store) if id(v) in doomed]):
        del store[index]
    tracker = getattr(optimizer, "_tracker", None)
    if tracker is not None:
        for variable in variables:
            tracker.stored_ids.get("variables", set()).discard(id(variable))
    if any(id(v) in doomed for v in optimizer.variables):
        raise RuntimeError("kreg.keras_compat: could not remove the binding's variables from the optimizer.")


def restore_optimizer_variables(optimizer, variables):
    """Puts back, at the end of `optimizer.variables` and in order, variables removed by `remove_optimizer_variables`."""
    tracker = getattr(optimizer, "_tracker", None)
    if tracker is None or not hasattr(tracker, "add_to_store"):
        raise RuntimeError("kreg.keras_compat: the optimizer no longer tracks its variables with a `_tracker`.")
    for variable in variables:
        tracker.add_to_store("variables", variable)
    present = {id(v) for v in optimizer.variables}
    if not all(id(v) in present for v in variables):
        raise RuntimeError("kreg.keras_compat: could not put the binding's variables back into the optimizer.")


class JaxStepThreading:
    """Makes the training step visible to a `StepSource` inside JAX's compiled train and test steps.

    Installed on one model by `install()` (wrapping `model.train_step` and `model.test_step` on the instance) and
    removed by `uninstall()`. See the module docstring for why JAX needs it.

    Args:
        model: the compiled model.
        source: the model's `kreg.step_source.StepSource`.
    """

    def __init__(self, model, source):
        self.model = model
        self.source = source
        self.host_step = 0
        self._installed = False

    def install(self):
        model, source = self.model, self.source
        config = getattr(keras, "config", None)
        if config is not None and getattr(config, "is_nnx_enabled", lambda: False)():
            warnings.warn(
                "kreg: with Flax NNX enabled, Keras's JAX trainer calls `type(model).train_step`, so kreg cannot "
                "thread the training step: scheduled strengths and rates stay at their value when the step was traced.",
                UserWarning,
                stacklevel=3,
            )
        original_train, original_test = model.train_step, model.test_step

        def train_step(state, data):
            with source.traced(self.step_from_state(state)):
                return original_train(state, data)

        def test_step(state, data):
            with source.traced(self._host_step_tensor()):
                return original_test(state, data)

        model.train_step = train_step
        model.test_step = test_step
        self._installed = True

    def uninstall(self):
        if self._installed:
            for name in ("train_step", "test_step"):
                if name in vars(self.model):
                    delattr(self.model, name)
            self._installed = False

    def sync_host_step(self):
        """Reads the optimizer's (synced) iteration count on the host, for the next evaluation."""
        self.host_step = int(keras.ops.convert_to_numpy(self.source.optimizer.iterations))

    def step_from_state(self, state):
        """The traced `optimizer.iterations` of a JAX train-step `state`; raises if the layout is not Keras's."""
        optimizer = self.model.optimizer
        variables = list(optimizer.variables)
        if not isinstance(state, (tuple, list)) or len(state) != 4 or len(state[2]) != len(variables):
            raise RuntimeError(
                "kreg.keras_compat: Keras's JAX train_step state is no longer (trainable_variables, "
                "non_trainable_variables, optimizer_variables, metrics_variables) with one value per optimizer "
                "variable; kreg cannot read the training step for schedules. Please report this with your Keras "
                "version."
            )
        counter = raw_iterations(optimizer)
        for variable, value in zip(variables, state[2]):
            if variable is counter:
                accumulation = getattr(inner_optimizer(optimizer), "gradient_accumulation_steps", None)
                return value // accumulation if accumulation else value
        raise RuntimeError(
            "kreg.keras_compat: the optimizer's iteration counter is not among `optimizer.variables`; kreg cannot "
            "read the training step for schedules. Please report this with your Keras version."
        )

    def _host_step_tensor(self):
        import jax
        import numpy as np

        return jax.pure_callback(lambda: np.asarray(self.host_step, dtype="int32"), jax.ShapeDtypeStruct((), "int32"))


class _TFGraphBackend:
    """Keras's TensorFlow backend ops (`numpy`, `random`, `nn`, `cast`, `shape`, `convert_to_tensor`) for graph tensors.

    Attributes not defined here (`numpy`, `random`, `nn`, `cast`, ...) are those of Keras's TensorFlow backend, with
    the signatures of the `keras.ops` / `keras.random` functions of the same names.
    """

    name = "tensorflow"

    def __init__(self, dynamic):
        self._dynamic = dynamic

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._dynamic, name)

    def seed_generator(self, seed=None):
        """A `keras.random.SeedGenerator` whose state is a TensorFlow variable (usable in a `tf.data` graph)."""
        return keras.random.SeedGenerator(seed, backend=self._dynamic)

    def host_call(self, function, dtypes):
        """Runs `function()` (returning one scalar per dtype) on the host each time the graph runs: scalar tensors."""
        import tensorflow as tf

        outputs = tf.numpy_function(function, [], list(dtypes), stateful=True)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for output in outputs:
            output.set_shape(())
        return outputs


_TF_GRAPH_BACKEND = []


def tf_graph_backend():
    """Keras's TensorFlow ops when the caller runs in a TensorFlow graph on another backend; `None` otherwise.

    `None` when the Keras backend is TensorFlow (`keras.ops` then handles graph tensors itself), when TensorFlow is
    not imported, or when TensorFlow executes eagerly (not inside a `tf.data` map or a `tf.function`). Otherwise a
    namespace with the attributes of Keras's TensorFlow backend (`numpy`, `random`, `nn`, `cast`, `shape`,
    `convert_to_tensor`, with the signatures of `keras.ops`/`keras.random`), plus `seed_generator(seed)` and
    `host_call(function, dtypes)` (see `_TFGraphBackend`).

    Raises:
        RuntimeError: when Keras's preprocessing layers no longer carry a `DynamicBackend` to switch to TensorFlow.
    """
    if keras.backend.backend() == "tensorflow":
        return None
    tf = sys.modules.get("tensorflow")
    if tf is None or tf.executing_eagerly():
        return None
    if not _TF_GRAPH_BACKEND:
        dynamic = getattr(keras.layers.Rescaling(1.0), "backend", None)
        if type(dynamic).__name__ != "DynamicBackend" or not hasattr(dynamic, "set_backend"):
            raise RuntimeError(
                "kreg.keras_compat: Keras's preprocessing layers no longer carry a `DynamicBackend`; kreg cannot run "
                "its data layers inside a tf.data pipeline on this backend. Please report this with your Keras version."
            )
        dynamic = type(dynamic)("tensorflow")
        for name in ("numpy", "random", "nn", "cast", "shape", "convert_to_tensor", "Variable"):
            if getattr(dynamic, name, None) is None:
                raise RuntimeError(f"kreg.keras_compat: Keras's TensorFlow backend has no `{name}` any more.")
        _TF_GRAPH_BACKEND.append(_TFGraphBackend(dynamic))
    return _TF_GRAPH_BACKEND[0]


__all__ = [
    "JaxStepThreading",
    "in_symbolic_scope",
    "inner_optimizer",
    "raw_iterations",
    "remove_optimizer_variables",
    "restore_optimizer_variables",
    "tf_graph_backend",
]
