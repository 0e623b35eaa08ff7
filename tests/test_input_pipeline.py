import numpy as np
import pytest

from lipsync_jax import audio, input_pipeline


@pytest.fixture(scope="module")
def source(tfds_dir):
  return input_pipeline.open_split("synthetic_talking_faces", tfds_dir, "train")


def test_batch_shapes(source):
  it = input_pipeline.TrainIterator(source, 4)
  b = next(it)
  it.close()
  assert b["frames"].shape == (4, 5, 256, 256, 3) and b["frames"].dtype == np.uint8
  assert b["masks"].shape == (4, 5, 256, 256, 1) and set(np.unique(b["masks"])) <= {0, 1}
  assert b["mels"].shape == b["sync_mels"].shape == (4, 5, 20, 80)
  assert b["reference"].shape == (4, 256, 256, 3)


def test_sample_contents_match_the_clip(source):
  config = input_pipeline.PipelineConfig()
  s = input_pipeline.sample_example(source, 3, 1, config)
  clip = source[int(s["clip_index"])]
  t0 = int(s["start_frame"])
  for j in range(5):
    np.testing.assert_array_equal(s["mels"][j], audio.mel_window(clip["mel"], t0 + j))
    np.testing.assert_array_equal(s["frames"][j], input_pipeline.decode_jpeg(clip["frames"][t0 + j]))
  np.testing.assert_array_equal(s["masks"][..., 0], np.unpackbits(clip["lip_mask"][t0:t0 + 5], axis=-1))
  rect = input_pipeline.sample_example(source, 3, 1, input_pipeline.PipelineConfig(mask="rect"))
  assert not np.array_equal(rect["masks"], s["masks"])
  # The reference is a frame of the same clip, not one of the five.
  assert not any(np.array_equal(s["reference"], f) for f in s["frames"])


def test_resume_is_exact_and_hosts_split_the_global_batch(source):
  it = input_pipeline.TrainIterator(source, 4, start_step=0)
  batches = [next(it) for _ in range(3)]
  state = it.get_state()
  fourth = next(it)
  it.close()
  resumed = input_pipeline.TrainIterator(source, 4)
  resumed.set_state(state)
  again = next(resumed)
  resumed.close()
  for k in fourth:
    np.testing.assert_array_equal(fourth[k], again[k])
  assert not np.array_equal(batches[0]["frames"], batches[1]["frames"])
  halves = [input_pipeline.TrainIterator(source, 4, process_index=p, process_count=2).batch(2)
            for p in range(2)]
  for k in fourth:
    np.testing.assert_array_equal(np.concatenate([h[k] for h in halves]), batches[2][k])


def test_bad_batch_split(source):
  with pytest.raises(ValueError, match="does not split"):
    input_pipeline.TrainIterator(source, 5, process_count=2)
