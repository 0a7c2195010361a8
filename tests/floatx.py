"""`with floatx("float64"):` sets `keras.config.floatx()` for a block and restores it, even when the block raises."""

import contextlib

import keras


@contextlib.contextmanager
def floatx(dtype):
    previous = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous)
