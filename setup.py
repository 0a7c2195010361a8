"""kreg: regularization for Keras 3 (regularizers, constraints, noise layers, early stopping, TensorBoard reports)."""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent

setup(
    name="kreg",
    version="0.1.0",
    description="Regularization for Keras 3: penalties with exact zeros, constraints, dropout variants, "
    "adaptive early stopping and TensorBoard regularization reports, on every backend.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["kreg", "kreg.*"]),
    python_requires=">=3.10",
    install_requires=["keras>=3.5", "numpy", "tensorboard"],
    extras_require={
        "tensorflow": ["tensorflow>=2.16"],
        "jax": ["jax[cpu]"],
        # 2.13.0 is the CPU build on this project's machines; an unpinned torch pulls a multi-GB CUDA build.
        "torch": ["torch==2.13.0"],
        "tuning": ["keras-tuner>=1.4", "matplotlib"],
        # The demo's and the tuning recipe's PNGs.
        "plots": ["matplotlib"],
        "dev": ["pytest>=8", "pytest-xdist", "hypothesis", "scikit-learn", "ruff"],
        # `make mutate` (scripts/mutate.py): its configuration is written for this version.
        "mutation": ["mutmut==3.8.1"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Keras",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
