"""Side-by-side timing helpers for the benchmarks."""

import contextlib
import time

import numpy as np


def interleaved_times(fns, repeats=7, warmup=1):
    """Times each zero-argument callable in `fns` (a dict name -> fn), interleaving the runs.

    Interleaving (a, b, c, a, b, c, ...) spreads machine noise evenly over the candidates, so ratios between them
    are fair even on a busy machine. Returns a dict name -> median seconds.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in samples.items()}


def paired_rounds(fns, repeats=9):
    """Times every callable once per round, side by side, after one warm-up round; returns the list of rounds.

    Each round is a dict name -> seconds. Ratios taken within a round (`median_ratio`) cancel the load drift of a
    shared machine far better than a ratio of two medians taken over the whole run.
    """
    interleaved_times(fns, repeats=1, warmup=1)
    return [interleaved_times(fns, repeats=1, warmup=0) for _ in range(repeats)]


def rotated_rounds(fns, repeats):
    """`paired_rounds` with each round starting at the next callable, so that none always runs first."""
    interleaved_times(fns, repeats=1, warmup=1)  # the warm-up round: traces and compilations
    names = list(fns)
    rounds = []
    for index in range(repeats):
        order = names[index % len(names) :] + names[: index % len(names)]
        rounds.append(interleaved_times({name: fns[name] for name in order}, repeats=1, warmup=0))
    return rounds


def median_ratio(rounds, name, baseline):
    """The median over `rounds` (from `paired_rounds`) of `time[name] / time[baseline]` within each round."""
    return float(np.median([r[name] / r[baseline] for r in rounds]))


def median_time(rounds, name):
    """The median over `rounds` of the seconds `name` took."""
    return float(np.median([r[name] for r in rounds]))


@contextlib.contextmanager
def torch_threads(count):
    """Within the block, PyTorch uses `count` intra-op threads (`None`: unchanged); nothing on other backends."""
    import keras

    if count is None or keras.backend.backend() != "torch":
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
