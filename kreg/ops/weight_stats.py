"""Statistics of a model's weights, all computed in one compiled pass: sparsity, norms, spectra, penalties.

`weight_statistics` is the pure `keras.ops` math for one weight. `WeightStatistics` builds one function over the
list of all weight values that returns every statistic of every weight in a single flat float32 vector, compiles it
for the backend (`jax.jit`; `tf.function`, with XLA when `jit_compile`; plain eager under `torch.no_grad` on
PyTorch) and converts that one vector to NumPy per call: no per-variable round trip to the host.

References:
    Golub & Van Loan, "Matrix Computations", 8.2 (power iteration for the largest singular value).
    Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks" (persistent power-iteration
    vector, a few iterations per step).
    Rudelson & Vershynin 2007, "Sampling from large matrices" (stable rank ||W||_F^2 / ||W||_2^2).
    Yuan & Lin 2006, "Model selection and estimation in regression with grouped variables" (group sparsity).
"""

import keras
import numpy as np
from keras import ops

from kreg import validation
from kreg.ops.power_iteration import as_matrix, power_iteration

#: Statistics of every weight, in the order they appear in the flat vector.
VECTOR_STATS = ("sparsity", "near_zero", "l1", "l2", "max_abs")
#: Extra statistics of kernels of rank >= 2 (viewed as `(fan_in, units)` matrices by `as_matrix`).
MATRIX_STATS = ("spectral", "stable_rank", "group_sparsity")
#: How `near_zero` scales its threshold: by the weight's max |w|, by its root mean square, or not at all.
NEAR_ZERO_SCALES = ("max_abs", "rms", "absolute")


def weight_statistics(x, u=None, near_zero=1e-3, near_zero_scale="max_abs", power_iterations=1):
    """Sparsity and norms of one weight `x`; with a power-iteration vector `u`, its spectrum too.

    Args:
        x: a weight tensor of any rank (computed in float32, or float64 if `x` is float64).
        u: for kernels of rank >= 2, the current estimate of the leading left singular vector of `as_matrix(x)`,
            shape `(prod(shape[:-1]),)`; `None` skips the spectral statistics.
        near_zero: relative (or absolute, see `near_zero_scale`) threshold of the `near_zero` fraction.
        near_zero_scale: one of `NEAR_ZERO_SCALES`.
        power_iterations: power iterations run from `u`.

    Returns:
        `(stats, u)`: a dict of scalar tensors with keys `VECTOR_STATS` (plus `MATRIX_STATS` when `u` is given)
        and the updated `u` (or `None`). `sparsity` is the fraction of exact zeros, `near_zero` the fraction with
        `|x| <= threshold`, `group_sparsity` the fraction of output units (last axis) whose weights are all zero,
        `stable_rank` is `||W||_F^2 / sigma_max^2` (0 for a zero matrix).

    Example:

    >>> stats, u = weight_statistics(kernel, u)
    >>> stats["spectral"]  # largest singular value of the (fan_in, units) matrix
    """
    dtype = "float64" if keras.backend.standardize_dtype(x.dtype) == "float64" else "float32"
    x = ops.cast(x, dtype)
    # Few full passes over the weight (XLA fuses them on TensorFlow/JAX; PyTorch runs them eagerly): one |x|
    # temporary shared by l1, max and the counts, the l2 norm without an x**2 temporary, and counts as sums of
    # signs (0 or 1), about twice as fast in eager PyTorch as summing a boolean mask cast to float.
    flat = ops.reshape(x, (-1,))
    size = ops.cast(ops.size(flat), dtype)
    magnitude = ops.abs(flat)
    max_abs = ops.max(magnitude)
    l2 = ops.norm(flat)
    threshold = {"max_abs": max_abs, "rms": l2 / ops.sqrt(size), "absolute": 1.0}[near_zero_scale]
    threshold = ops.cast(near_zero, dtype) * threshold
    stats = {
        "sparsity": (size - _count_positive(magnitude)) / size,
        "near_zero": (size - _count_positive(ops.relu(magnitude - threshold))) / size,
        "l1": ops.sum(magnitude),
        "l2": l2,
        "max_abs": max_abs,
    }
    if u is None:
        return stats, None
    matrix = as_matrix(x)
    sigma, u, _ = power_iteration(matrix, u, iterations=power_iterations)
    sigma_squared = ops.square(sigma)
    stats["spectral"] = sigma
    stats["stable_rank"] = ops.where(
        sigma_squared > 0, ops.square(l2) / ops.maximum(sigma_squared, ops.cast(1e-30, dtype)), ops.zeros((), dtype)
    )
    units = ops.cast(ops.shape(matrix)[-1], dtype)
    unit_max = ops.max(ops.reshape(magnitude, ops.shape(matrix)), axis=0)
    stats["group_sparsity"] = (units - _count_positive(unit_max)) / units
    return stats, u


def _count_positive(x):
    """The number of positive entries of a non-negative tensor, as a float: `sum(sign(x))`."""
    return ops.sum(ops.sign(x))


def has_matrix_stats(variable):
    """Whether `variable` gets the `MATRIX_STATS`: a kernel of rank >= 2 (a `(fan_in, units)` matrix)."""
    return len(tuple(variable.shape)) >= 2


class WeightStatistics:
    """All statistics of a list of variables, computed by one compiled function per call.

    The statistics of each variable are those of `weight_statistics`, plus `penalty` (its `variable.regularizer`
    called on its value, the term Keras adds to the loss) when it has a regularizer; the global entries are
    `("global", "sparsity")`, `("global", "near_zero")` (fractions over all entries of all variables) and
    `("global", "penalty")` (sum of all penalties). The power-iteration vectors persist across calls, so a few
    iterations per call track the slowly changing spectrum; the first call runs `warmup_calls` extra passes.

    Args:
        variables: the `keras.Variable`s to describe (e.g. `model.trainable_weights`).
        names: one name per variable (default: `variable.path`), the first element of the result keys.
        near_zero: threshold of the near-zero fraction, relative to `near_zero_scale`.
        near_zero_scale: one of `"max_abs"`, `"rms"`, `"absolute"`.
        power_iterations: power iterations per call.
        penalties: whether to evaluate the variables' regularizers.
        state_variables: variables the regularizers may read (e.g. `optimizer.variables`, for schedules keyed on
            `optimizer.iterations`); on JAX their current values are passed to the compiled function so they are
            not frozen at trace time.
        jit_compile: compile with XLA on TensorFlow (JAX always compiles, PyTorch runs eagerly).
        seed: seed of the initial power-iteration vectors.
        warmup_calls: extra power-iteration passes at the first call.

    Example:

    >>> stats = WeightStatistics(model.trainable_weights)
    >>> stats()[("dense/kernel", "sparsity")]

    Reference: Miyato et al. 2018 (persistent power iteration); Rudelson & Vershynin 2007 (stable rank).
    """

    def __init__(
        self,
        variables,
        names=None,
        near_zero=1e-3,
        near_zero_scale="max_abs",
        power_iterations=1,
        penalties=True,
        state_variables=(),
        jit_compile=True,
        seed=0,
        warmup_calls=4,
    ):
        self.variables = list(variables)
        self.names = list(names) if names is not None else [v.path for v in self.variables]
        if len(self.names) != len(self.variables):
            raise ValueError(
                f"Expected one name per variable. Received {len(self.names)} names for {len(self.variables)} variables."
            )
        self.near_zero = validation.check_float("near_zero", near_zero, low=0.0)
        self.near_zero_scale = validation.check_choice("near_zero_scale", near_zero_scale, NEAR_ZERO_SCALES)
        self.power_iterations = validation.check_int("power_iterations", power_iterations, low=1)
        self.penalties = validation.check_bool("penalties", penalties)
        self.state_variables = list(state_variables)
        self.jit_compile = validation.check_bool("jit_compile", jit_compile)
        self.warmup_calls = validation.check_int("warmup_calls", warmup_calls, low=0)
        self.matrix = [has_matrix_stats(v) for v in self.variables]
        self.regularized = [self.penalties and getattr(v, "regularizer", None) is not None for v in self.variables]
        self.keys = self._keys()
        rng = np.random.default_rng(seed)
        self.vectors = [
            ops.convert_to_tensor(rng.standard_normal(int(np.prod(v.shape[:-1]))).astype("float32"))
            if is_matrix
            else None
            for v, is_matrix in zip(self.variables, self.matrix)
        ]
        self._function = None
        self._calls = 0

    def _keys(self):
        keys = []
        for name, is_matrix, regularized in zip(self.names, self.matrix, self.regularized):
            keys += [(name, stat) for stat in VECTOR_STATS]
            keys += [(name, stat) for stat in MATRIX_STATS] if is_matrix else []
            keys += [(name, "penalty")] if regularized else []
        return keys + [("global", "sparsity"), ("global", "near_zero"), ("global", "penalty")]

    def compute(self, values, vectors):
        """The pure pass: `values` and `vectors` (lists aligned with `variables`) -> `(flat float32 vector, vectors)`."""
        flat, new_vectors = [], []
        zeros = near = count = penalty_total = ops.zeros((), "float32")
        for variable, value, u, regularized in zip(self.variables, values, vectors, self.regularized):
            stats, u = weight_statistics(value, u, self.near_zero, self.near_zero_scale, self.power_iterations)
            new_vectors.append(u)
            stats = {k: ops.cast(s, "float32") for k, s in stats.items()}
            size = ops.cast(int(np.prod(variable.shape)), "float32")
            zeros = zeros + stats["sparsity"] * size
            near = near + stats["near_zero"] * size
            count = count + size
            flat += [stats[stat] for stat in VECTOR_STATS]
            flat += [stats[stat] for stat in MATRIX_STATS] if u is not None else []
            if regularized:
                penalty = ops.reshape(ops.cast(variable.regularizer(value), "float32"), ())
                penalty_total = penalty_total + penalty
                flat.append(penalty)
        count = ops.maximum(count, ops.ones((), "float32"))
        flat += [zeros / count, near / count, penalty_total]
        return ops.stack(flat), new_vectors

    def _build(self):
        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            state_variables = self.state_variables

            def with_state(values, vectors, state_values):
                with keras.StatelessScope(state_mapping=list(zip(state_variables, state_values))):
                    return self.compute(values, vectors)

            jitted = jax.jit(with_state)
            return lambda values, vectors: jitted(values, vectors, [v.value for v in state_variables])
        if backend == "tensorflow":
            import tensorflow as tf

            return tf.function(self.compute, jit_compile=self.jit_compile, reduce_retracing=True)
        if backend == "torch":
            import torch

            def no_grad(values, vectors):
                # The eager ops are small and memory-bound: one intra-op thread runs them steadily, where a thread
                # pool contended by other processes stalled them up to 10x (see docs/report.md). Restored after.
                threads = torch.get_num_threads()
                torch.set_num_threads(1)
                try:
                    with torch.no_grad():
                        return self.compute(values, vectors)
                finally:
                    torch.set_num_threads(threads)

            return no_grad
        return self.compute

    def __call__(self):
        """Computes every statistic now; returns a dict `(name, stat) -> float` (keys in `self.keys` order)."""
        if self._function is None:
            self._function = self._build()
        values = [v.value for v in self.variables]
        passes = 1 + (self.warmup_calls if self._calls == 0 else 0)
        for _ in range(passes):
            flat, vectors = self._function(values, self.vectors)
            self.vectors = list(vectors)
        self._calls += 1
        flat = ops.convert_to_numpy(flat)
        return dict(zip(self.keys, (float(x) for x in flat)))
