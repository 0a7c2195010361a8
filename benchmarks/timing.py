"""Side-by-side timing helpers for the benchmarks."""

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
