"""minigen: a readable deep-learning framework for unsupervised and generative models.

The distribution is called ``minigen-dl`` (the name ``minigen`` on PyPI belongs
to an unrelated project); the import name is ``minigen``. The Numba kernels in
the top-level ``kernels/`` folder install as ``minigen.kernels``.
"""
from setuptools import setup

EXTRAS = {
    "fast": ["numba>=0.59"],
    "gpu": ["cupy-cuda12x", "numba-cuda"],
    "viz": ["pillow", "matplotlib", "tqdm"],
    "data": ["scikit-learn", "mlxtend"],
}
EXTRAS["demo"] = EXTRAS["fast"] + EXTRAS["viz"] + EXTRAS["data"]
EXTRAS["test"] = EXTRAS["demo"] + [
    "pytest>=8", "pytest-xdist", "pytest-timeout", "hypothesis>=6", "scipy", "coverage",
    "torch==2.13.0",
]

setup(
    name="minigen-dl",
    version="0.1.0",
    description="A from-scratch, readable deep-learning framework for unsupervised and generative models",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=[
        "minigen", "minigen.autograd", "minigen.functional", "minigen.nn", "minigen.optim",
        "minigen.data", "minigen.models", "minigen.models.gan", "minigen.models.classical", "minigen.train",
        "minigen.metrics", "minigen.viz", "minigen.kernels",
    ],
    package_dir={"minigen.kernels": "kernels"},
    package_data={"minigen.data": ["texts/*.txt"]},
    install_requires=["numpy>=1.22"],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["minigen=minigen.cli:main"]},
)
