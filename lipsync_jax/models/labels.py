"""Labels for every parameter, from its path, for the trainers' freezing (optax.multi_transform).

  mapping            StyleGAN2 mapping network (frozen after pretraining)
  synthesis          StyleGAN2 synthesis weights (frozen in lip-sync training, trained in adaptation)
  samf               the SaMF convolutions inside the decoder (trained in lip-sync training)
  face_encoder, reference_encoder, audio_encoder, mals
  lip_motion         audio to the lips drawn for the decoder (with a lip_hint prior; lip-sync)
  frame_encoder      the decoder prior's teacher (trained with the decoder, frozen in lip-sync)
  syncnet            the sync expert (its own stage; frozen when used as a loss)
  discriminator
"""

import flax

LABELS = ("mapping", "synthesis", "samf", "face_encoder", "reference_encoder", "audio_encoder",
          "mals", "lip_motion", "frame_encoder", "syncnet", "discriminator")


def label_for(path: tuple[str, ...]) -> str:
  if "samf" in path:
    return "samf"
  for top in path:
    if top in LABELS:
      return top
  raise ValueError(f"no label for parameter {'/'.join(path)}")


def param_labels(params):
  """A tree of labels shaped like `params`."""
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params))
  labels = {path: label_for(tuple(str(p) for p in path)) for path in flat}
  return flax.traverse_util.unflatten_dict(labels)


def count_by_label(params) -> dict[str, int]:
  counts = {}
  for path, leaf in flax.traverse_util.flatten_dict(flax.core.unfreeze(params)).items():
    label = label_for(tuple(str(p) for p in path))
    counts[label] = counts.get(label, 0) + int(leaf.size)
  return counts


