"""A small residual CNN on digits (8x8 images) with stochastic depth, DropBlock, spectral norm and MixUp/CutMix.

Architecture: a 3x3 conv stem (32 channels), `--blocks` residual blocks (two 3x3 convs with batch norm), global
average pooling and a 10-way dense head. Batch norm uses momentum 0.9: with 13 batches per epoch Keras's default
0.99 leaves the moving statistics far from the data for the first ~20 epochs, so validation looks like chance and
early stopping stops on noise. The `regularized` variant adds, from kreg:

- `kreg.layers.DropPath` on each residual branch, with rates from `kreg.layers.drop_path_rates(max_rate, blocks)`
  (the linear rule of stochastic depth, Huang et al. 2016);
- `kreg.layers.DropBlock2D(rate, block_size=3)` after the first conv of each branch (Ghiasi et al. 2018);
- `kreg.constraints.SpectralNorm(max_value)` on every conv and dense kernel (the largest singular value of the
  reshaped kernel is kept at most `max_value` after each update; the training binding that any kreg callback brings
  keeps its power-iteration vector across steps);
- `kreg.layers.MixUpCutMix` on the training batches (MixUp or CutMix per batch, timm's/DeiT's recipe), applied to
  NumPy batches by `kreg.layers.MixingPyDataset`, so it runs the same on every backend;
- `kreg.callbacks.AdaptiveEarlyStopping` on the penalty-free validation loss.

The `baseline` variant is the same network without any of these (plain `fit`, all epochs).

Expected output (a few minutes on a 2-core CPU with the defaults): per variant, epochs run, train and test accuracy
(train accuracy measured on clean images) and the largest singular value of the head's kernel. Measured with the
defaults (seed 0, TensorFlow): baseline 40 epochs, train 1.000, test 0.983, head sigma_max 1.952; regularized 40
epochs, train 1.000, test 0.975, head sigma_max 1.896 (<= 2.0). Digits is easy for a CNN even with 400 images, so
here the regularization does not improve test accuracy (one seed: a point is noise); the example shows how the
pieces fit together in one model and one `fit`, on every backend.

    python examples/residual_cnn_digits.py
    python examples/residual_cnn_digits.py --epochs 60 --blocks 4
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import kreg  # noqa: E402
from kreg.layers import MixingPyDataset, MixUpCutMix  # noqa: E402


class Batches(keras.utils.PyDataset):
    """Shuffled `(x, one_hot_y)` batches of NumPy arrays, reshuffled every epoch."""

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))


def data(seed, train_size):
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    y = np.eye(10, dtype="float32")[y]
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=400, random_state=seed, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, train_size=train_size, test_size=300, random_state=seed, stratify=y_rest
    )
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def build(regularized, blocks, width, args):
    constraint = kreg.constraints.SpectralNorm(args.max_value) if regularized else None
    rates = kreg.layers.drop_path_rates(args.drop_path, blocks)

    def conv(x):
        return keras.layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_constraint=constraint)(x)

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(conv(inputs)))
    for block in range(blocks):
        branch = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(conv(x)))
        if regularized:
            branch = kreg.layers.DropBlock2D(args.drop_block, block_size=3, seed=block)(branch)
        branch = keras.layers.BatchNormalization(momentum=0.9)(conv(branch))
        if regularized:
            branch = kreg.layers.DropPath(rates[block], seed=100 + block)(branch)
        x = keras.layers.ReLU()(keras.layers.Add()([x, branch]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, kernel_constraint=constraint, name="head")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.Adam(2e-3),
        keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["categorical_accuracy"],
    )
    return model


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="2 epochs, 1 block, 8 channels, 200 images")
    parser.add_argument("--train-size", type=int, default=400)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--drop-path", type=float, default=0.2, help="DropPath rate of the last block")
    parser.add_argument("--drop-block", type=float, default=0.1)
    parser.add_argument("--max-value", type=float, default=2.0, help="SpectralNorm bound")
    parser.add_argument("--variants", default="baseline,regularized", help="comma-separated subset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.blocks, args.width, args.train_size = 2, 1, 8, 200
    return args


def main(argv=None):
    """Returns {variant: {"epochs", "train_accuracy", "test_accuracy", "head_spectral_norm"}}."""
    args = parse(argv)
    (x, y), (x_val, y_val), (x_test, y_test) = data(args.seed, args.train_size)
    results = {}
    for variant in args.variants.split(","):
        keras.utils.set_random_seed(args.seed)
        model = build(variant == "regularized", args.blocks, args.width, args)
        batches = Batches(x, y, 32, args.seed)
        callbacks = []
        if variant == "regularized":
            mixing = MixUpCutMix(mixup_alpha=0.2, cutmix_alpha=1.0, switch_prob=0.5, seed=args.seed)
            batches = MixingPyDataset(batches, mixing)
            callbacks.append(kreg.callbacks.AdaptiveEarlyStopping(patience=10, restore_best_weights=True))
        history = model.fit(
            batches, validation_data=(x_val, y_val), epochs=args.epochs, verbose=args.verbose, callbacks=callbacks
        )
        head = keras.ops.convert_to_numpy(model.get_layer("head").kernel)
        results[variant] = {
            "epochs": len(history.history["loss"]),
            "train_accuracy": float(model.evaluate(x, y, verbose=0, return_dict=True)["categorical_accuracy"]),
            "test_accuracy": float(model.evaluate(x_test, y_test, verbose=0, return_dict=True)["categorical_accuracy"]),
            "head_spectral_norm": float(np.linalg.norm(head, 2)),
        }
    print(f"{'variant':<12} {'epochs':>6} {'train acc':>9} {'test acc':>8} {'head sigma_max':>14}")
    for variant, row in results.items():
        print(
            f"{variant:<12} {row['epochs']:>6} {row['train_accuracy']:>9.3f} {row['test_accuracy']:>8.3f}"
            f" {row['head_spectral_norm']:>14.3f}"
        )
    print(
        f"\ntrain acc on clean training images; head sigma_max: largest singular value of the head's kernel"
        f" (SpectralNorm bound {args.max_value} in the regularized variant)"
    )
    return results


if __name__ == "__main__":
    main()
