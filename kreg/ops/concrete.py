"""Concrete dropout: a dropout mask relaxed to be differentiable in the drop rate, and its variational regularizer.

Gal, Hron & Kendall 2017, "Concrete Dropout" (NeurIPS), section 3 and the authors' reference code
(github.com/yaringal/ConcreteDropout): the Bernoulli drop mask is replaced by its concrete (Gumbel-softmax /
relaxed Bernoulli) relaxation (Maddison, Mnih & Teh 2017; Jang, Gu & Poole 2017)

    z = sigmoid((log p - log(1 - p) + log u - log(1 - u)) / t),   u ~ U(0, 1),

so that `x * (1 - z) / (1 - p)` is differentiable in `p`, and the rate is learned by minimizing the data loss plus

    weight_regularizer * sum(W^2) / (1 - p) + dropout_regularizer * K * (p log p + (1 - p) log(1 - p)),

the KL divergence of the dropout approximate posterior to the prior, up to constants (`K`: the number of dropped
inputs per example).
"""

from keras import ops, random

#: Added inside the logarithms, as in the reference code, so that `p` or `u` equal to 0 or 1 stays finite.
EPSILON = 1e-7


def concrete_dropout_mask(x, rate, temperature=0.1, seed=None, epsilon=EPSILON):
    """The relaxed drop mask `z` (near 1: dropped, near 0: kept), one entry per entry of `x`, in float32.

    `z = sigmoid((log(p + e) - log(1 - p + e) + log(u + e) - log(1 - u + e)) / temperature)` with
    `u ~ U(0, 1)` drawn by `keras.random.uniform(ops.shape(x), seed=seed)` and `e = epsilon`. As the temperature
    goes to 0, `z` tends to a Bernoulli(p) sample; `E[z]` is close to `p` for a small temperature.

    Args:
        x: the tensor to drop entries of (only its shape is used).
        rate: the drop probability `p`, a float or a scalar tensor in (0, 1); the mask is differentiable in it.
        temperature: the relaxation temperature `t > 0` (the paper and its reference code use 0.1).
        seed: a `keras.random.SeedGenerator`, an integer, or `None` (as for `keras.random.uniform`).
        epsilon: added inside the logarithms.

    Returns:
        A float32 tensor of the shape of `x`, with values in [0, 1].

    Example:

    >>> z = kreg.ops.concrete_dropout_mask(x, 0.2, temperature=0.1, seed=keras.random.SeedGenerator(0))

    Reference: Gal, Hron & Kendall 2017, "Concrete Dropout", equation 5.
    """
    noise = random.uniform(ops.shape(x), dtype="float32", seed=seed)
    return relaxed_bernoulli(noise, rate, temperature, epsilon)


def relaxed_bernoulli(noise, rate, temperature=0.1, epsilon=EPSILON):
    """The concrete relaxation of a Bernoulli(`rate`) sample from uniform `noise`: the math of the mask, noise given.

    Args:
        noise: uniform samples in [0, 1).
        rate: the probability of 1, a float or a scalar tensor in (0, 1).
        temperature: the relaxation temperature, `> 0`.
        epsilon: added inside the logarithms.

    Returns:
        `sigmoid((log(p + e) - log(1 - p + e) + log(u + e) - log(1 - u + e)) / temperature)`, in float32.
    """
    u = ops.cast(noise, "float32")
    p = ops.cast(rate, "float32")
    logit = ops.log(p + epsilon) - ops.log(1.0 - p + epsilon) + ops.log(u + epsilon) - ops.log(1.0 - u + epsilon)
    return ops.sigmoid(logit / temperature)


def concrete_dropout(x, rate, temperature=0.1, seed=None, epsilon=EPSILON):
    """Concrete dropout of `x`: `x * (1 - z) / (1 - p)`, with `z = concrete_dropout_mask(x, rate, ...)`.

    The scale `(1 - z) / (1 - p)` is computed in float32 and cast to the dtype of `x`; the result has the dtype of
    `x` and is differentiable in `rate`. Unlike `keras.random.dropout`, there is no short cut for a rate of 0: the
    rate is usually a trainable tensor.

    Args:
        x: the input tensor, any rank (one mask entry per entry of `x`).
        rate: the drop probability `p` in (0, 1), a float or a scalar tensor.
        temperature: the relaxation temperature, `> 0`.
        seed: a `keras.random.SeedGenerator`, an integer, or `None`.
        epsilon: added inside the logarithms.

    Example:

    >>> y = kreg.ops.concrete_dropout(x, ops.sigmoid(logit), seed=self.seed_generator)

    Reference: Gal, Hron & Kendall 2017, "Concrete Dropout".
    """
    x = ops.convert_to_tensor(x)
    z = concrete_dropout_mask(x, rate, temperature, seed, epsilon)
    scale = (1.0 - z) / (1.0 - ops.cast(rate, "float32"))
    return x * ops.cast(scale, x.dtype)


def concrete_dropout_regularizer(kernel, rate, input_dim, weight_regularizer=1e-6, dropout_regularizer=1e-5):
    """The concrete dropout penalty of one layer, in float32.

    `weight_regularizer * sum(W^2) / (1 - p) + dropout_regularizer * input_dim * (p log p + (1 - p) log(1 - p))`.

    The first term is the weight decay of the kept weights (it grows with `p`); the second is the negative entropy
    of the Bernoulli(`p`) mask per input, which is smallest at `p = 0.5` and so pulls the rate up from small values.
    The paper sets `weight_regularizer = l^2 / N` (prior length-scale `l`) and `dropout_regularizer = 2 / (tau N)`
    (model precision `tau`) for `N` training examples; the reference code uses `1e-6` and `1e-5`. `p log p` is
    computed as `p log(max(p, 1e-7))`, so a rate of exactly 0 or 1 gives 0 rather than NaN.

    Args:
        kernel: the weight `W` the dropout feeds (the wrapped layer's kernel), any shape.
        rate: the drop probability `p` in (0, 1), a float or a scalar tensor.
        input_dim: `K`, the number of dropped inputs per example (a number or a scalar tensor).
        weight_regularizer: the weight-decay strength, a float `>= 0`.
        dropout_regularizer: the entropy strength, a float `>= 0`.

    Returns:
        A float32 scalar tensor.

    Example:

    >>> penalty = kreg.ops.concrete_dropout_regularizer(dense.kernel, p, input_dim=64)

    Reference: Gal, Hron & Kendall 2017, "Concrete Dropout", equation 3 and section 3.
    """
    p = ops.cast(rate, "float32")
    w = ops.cast(kernel, "float32")
    weight_term = weight_regularizer * ops.sum(ops.square(w)) / (1.0 - p)
    negative_entropy = p * ops.log(ops.maximum(p, EPSILON)) + (1.0 - p) * ops.log(ops.maximum(1.0 - p, EPSILON))
    dropout_term = dropout_regularizer * ops.cast(input_dim, "float32") * negative_entropy
    return weight_term + dropout_term


__all__ = ["EPSILON", "concrete_dropout", "concrete_dropout_mask", "concrete_dropout_regularizer", "relaxed_bernoulli"]
