"""Data preparation: the synthetic talking-face corpus, video preprocessing and TFDS builders."""
