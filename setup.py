from setuptools import find_packages, setup

setup(
    name="lipsync_jax",
    version="0.1.0",
    description="StyleLipSync in JAX/Flax: zero-shot and personalized lip-sync at 256x256.",
    packages=find_packages(include=["lipsync_jax", "lipsync_jax.*", "data_prep", "data_prep.*"]),
    package_data={"lipsync_jax": ["assets/*"]},
    python_requires=">=3.10",
)
