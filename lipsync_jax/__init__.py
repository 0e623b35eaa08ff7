"""lipsync_jax: StyleLipSync (zero-shot and personalized lip-sync at 256x256) in JAX/Flax."""

__version__ = "0.1.0"
