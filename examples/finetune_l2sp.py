"""Fine-tuning with L2-SP: `kreg.attach` puts `kreg.regularizers.L2SP` on a model the script did not build by hand.

1. Pretraining: an MLP trunk (64 -> 256 -> 256) plus a 5-way head is trained on digits of classes 0-4.
2. Fine-tuning on classes 5-9 with only `--shots` labelled images per class: the trunk is copied twice, a new head
   is put on each copy, and each copy is fine-tuned with all weights trainable:
   - `plain`: no regularization (the trunk may drift anywhere);
   - `l2sp`: `kreg.attach(trunk, kreg.regularizers.L2SP(factor))` gives every kernel of the trunk its own L2SP,
     which captures that kernel's pretrained value as its reference: the penalty is
     `factor * sum((w - w_pretrained) ** 2)` (Li, Grandvalet & Davoine 2018, "Explicit inductive bias for transfer
     learning with convolutional networks"). The printed `attach` summary lists every weight it changed.

Expected output (about a minute on a loaded 2-core CPU with the defaults): the attach summary, then per variant the
test accuracy on classes 5-9 and the relative distance of the trunk's kernels from the pretrained ones
(||w - w0|| / ||w0||). Measured with the defaults (seed 0, TensorFlow): plain fine-tuning drifts 28.3% and reaches
test accuracy 0.938; L2-SP drifts 9.2% (three times less) and reaches 0.922. On this small problem L2-SP does not
improve accuracy (one seed: a point or two is noise); what it shows is the mechanism: the fine-tuned trunk stays
near its pretrained weights, which matters when the pretrained features are better than what the few new labels
can teach.

    python examples/finetune_l2sp.py
    python examples/finetune_l2sp.py --factor 1e-2 --shots 20
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import kreg  # noqa: E402


def split(seed, shots):
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    old, new = y < 5, y >= 5
    pretrain = (x[old], y[old])
    x_new, y_new = x[new], y[new] - 5
    x_rest, x_test, y_rest, y_test = train_test_split(x_new, y_new, test_size=0.5, random_state=seed, stratify=y_new)
    x_few, _, y_few, _ = train_test_split(x_rest, y_rest, train_size=5 * shots, random_state=seed, stratify=y_rest)
    return pretrain, (x_few, y_few), (x_test, y_test)


def compile_(model, lr):
    model.compile(
        keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )


def pretrained_trunk(x, y, epochs, seed):
    keras.utils.set_random_seed(seed)
    trunk = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(256, activation="relu")],
        name="trunk",
    )
    model = keras.Sequential([trunk, keras.layers.Dense(5)])
    compile_(model, 1e-3)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return trunk


def copy_of(trunk):
    clone = keras.models.clone_model(trunk)
    clone.set_weights(trunk.get_weights())
    return clone


def kernels(trunk):
    return [keras.ops.convert_to_numpy(layer.kernel) for layer in trunk.layers]


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=100, help="fine-tuning epochs")
    parser.add_argument("--shots", type=int, default=10, help="labelled images per new class")
    parser.add_argument("--factor", type=float, default=1e-2, help="L2SP strength")
    parser.add_argument("--quick", action="store_true", help="2 + 3 epochs: only checks that it runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.pretrain_epochs, args.epochs = 2, 3
    return args


def main(argv=None):
    """Returns {"summary": kreg.attach.Summary, "plain"/"l2sp": {"test_accuracy", "drift"}}."""
    args = parse(argv)
    (x_old, y_old), (x_few, y_few), (x_test, y_test) = split(args.seed, args.shots)
    trunk = pretrained_trunk(x_old, y_old, args.pretrain_epochs, args.seed)
    reference = kernels(trunk)
    results = {}
    for variant in ("plain", "l2sp"):
        backbone = copy_of(trunk)
        if variant == "l2sp":
            results["summary"] = kreg.attach(backbone, kreg.regularizers.L2SP(args.factor))
            print(results["summary"], "\n")
        keras.utils.set_random_seed(args.seed)
        model = keras.Sequential([keras.Input((64,)), backbone, keras.layers.Dense(5)])
        compile_(model, 1e-3)
        model.fit(x_few, y_few, epochs=args.epochs, batch_size=10, verbose=0)
        drift = np.sqrt(sum(np.sum((w - w0) ** 2) for w, w0 in zip(kernels(backbone), reference)))
        drift /= np.sqrt(sum(np.sum(w0**2) for w0 in reference))
        results[variant] = {
            "test_accuracy": float(model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]),
            "drift": float(drift),
        }
    print(f"fine-tuned on {5 * args.shots} images of classes 5-9, tested on {len(y_test)}")
    print(f"{'variant':<8} {'test acc':>8} {'drift':>8}")
    for variant in ("plain", "l2sp"):
        print(f"{variant:<8} {results[variant]['test_accuracy']:>8.3f} {results[variant]['drift']:>8.2%}")
    print("\ndrift = ||w - w_pretrained|| / ||w_pretrained|| over the trunk's kernels")
    return results


if __name__ == "__main__":
    main()
