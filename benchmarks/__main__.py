"""`make bench`: runs every `benchmarks/bench_*.py` (or those named on the command line) and prints their tables.

Each module has a `run()` that returns a list of rows (dicts). Every row is measured side by side in this one
process: ratios against Keras's built-in or against no regularization, never absolute times alone.
"""

import importlib
import pathlib
import sys
import time


def _print_table(title, rows):
    print(f"\n## {title}")
    if not rows:
        print("(no rows)")
        return
    keys = list(rows[0].keys())
    for row in rows[1:]:
        keys += [k for k in row if k not in keys]
    cells = [[_fmt(row.get(k, "")) for k in keys] for row in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("| " + " | ".join(k.ljust(w) for k, w in zip(keys, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths)) + " |")


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def main(argv):
    here = pathlib.Path(__file__).parent
    names = argv or sorted(p.stem[len("bench_") :] for p in here.glob("bench_*.py"))
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        start = time.perf_counter()
        rows = module.run()
        _print_table(f"{name} ({time.perf_counter() - start:.0f} s)", rows)


if __name__ == "__main__":
    main(sys.argv[1:])
