"""Running a wrapped layer with its kernel replaced by a tensor, so that the gradient reaches the kernel through it.

Shared by the wrappers that compute with a transformed kernel (`SpectralNormalization`: `W / sigma`; `WeightNoise`,
`DropConnect`: a perturbed `W`). A `keras.StatelessScope` maps each variable of the wrapped layer to a value (the
current ones, the kernel replaced) for the length of the call; the wrapped layer's non-trainable updates (e.g.
batch-norm statistics) and losses are carried back to the wrapper.
"""

import keras


def kernel_of(wrapper, layer):
    """The `kernel` variable of the layer `wrapper` wraps; raises `ValueError`, naming both, if it has none."""
    kernel = getattr(layer, "kernel", None)
    if not isinstance(kernel, keras.Variable):
        raise ValueError(
            f"{type(wrapper).__name__} needs a layer with a `kernel` weight; {type(layer).__name__} "
            f"(name={layer.name!r}) has none."
        )
    return kernel


def call_with_kernel(owner, layer, kernel_value, inputs, training):
    """Calls `layer(inputs, training=training)` with `layer.kernel` replaced by `kernel_value`.

    Args:
        owner: the wrapper layer, which receives the wrapped layer's losses (`owner.add_loss`).
        layer: the wrapped layer (with a `kernel` variable).
        kernel_value: the tensor to compute with in place of the kernel.
        inputs: the inputs of the call.
        training: the `training` argument of the call.

    Returns:
        The wrapped layer's outputs.
    """
    kernel = layer.kernel
    variables = layer.variables
    mapping = [(variable, kernel_value if variable is kernel else variable.value) for variable in variables]
    with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
        outputs = layer(inputs, training=training)
    for variable in variables:
        if variable is not kernel and not variable.trainable:
            variable.assign(scope.get_current_value(variable))
    for loss in scope.losses:
        owner.add_loss(loss)
    return outputs


__all__ = ["call_with_kernel", "kernel_of"]
