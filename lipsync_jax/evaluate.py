"""The paper's six metrics (tables 1 and 2) on held-out prepared clips, plus mouth-opening tracking.

  python -m lipsync_jax.evaluate --checkpoint WORKDIR | --exported MODEL.lsj --syncnet WORKDIR \
      --data_dir DIR [--dataset synthetic_talking_faces] [--split test] [--num_clips 8] \
      [--max_frames 100] [--audio_gain_db DB] --output_dir DIR

Generated frames are the model's crops pasted into the real crops through the feathered lip mask,
as `infer` writes them into a video.
Reconstruction (each clip driven by its own audio, reference = its first frame):
  PSNR, SSIM (skimage, on the model-resolution crops), LMD (mean distance of the MediaPipe lip
  landmarks of generated and real frames, in pixels of the 256 crop).
Cross-identity (each clip driven by the audio of another clip, preferably another identity):
  LSE-D and LSE-C by the syncnet_python recipe with *our* SyncNet (named in the report; the
  original SyncNet weights are not available): 5-frame windows, audio offsets -15..+15, per offset
  the mean embedding distance over frames; LSE-D = the minimum, LSE-C = median - minimum.
  Our embeddings are unit vectors, so distances lie in [0, 2], not on syncnet_python's scale.
  CSIM: cosine similarity of dlib's face embedding (ArcFace weights are not available here) of
  each generated frame (or one in --csim_every) and the reference.
Mouth tracking (the learning proof of the training issue): the Pearson correlation over frames of
the generated frames' mouth opening (face_geometry.inner_lip_opening of the MediaPipe mesh) with
the ground-truth opening of the clip whose audio drives it, for own and cross audio; with own
audio also the ratio of their standard deviations and the lag at which they correlate best. The
ground truth is the synthetic corpus's rendered mesh when its sidecar (<video>.npz) sits beside
the source video, else the MediaPipe mesh of the full-resolution video stored in the dataset.
The mouth r is also given over the clips whose real frames the instrument reads at r >= 0.8
against the ground truth (READABLE_MIN), beside the mean over all clips.
SyncNet discrimination: on the real clips, how often aligned audio beats audio shifted by 3-12
frames, per 5-frame window and averaged over each clip.
With --audio_gain_db, every driving clip's audio is heard as if recorded that many dB louder (or,
negative, quieter): its log-mel shifted, never below silence (audio.warp_mel). Recordings differ
in level by tens of dB; the synthetic corpus speaks at one.

Writes OUTPUT_DIR/report.json, OUTPUT_DIR/report.md (a table shaped like the paper's) and
OUTPUT_DIR/mouths.png (the first clip's real and generated mouths side by side, own audio).
"""

import argparse
import json
import os
import sys

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from lipsync_jax import audio as audio_lib  # noqa: E402
from lipsync_jax import face_geometry as fg  # noqa: E402
from lipsync_jax import backends, face_mesh, fileio, inference, input_pipeline  # noqa: E402
from lipsync_jax import lip_hint, media, metrics  # noqa: E402
from lipsync_jax.models import syncnet  # noqa: E402

SHIFTS = syncnet.SHIFTS
# A clip's mouth r is read where the instrument (MediaPipe on its real frames) tracks its ground
# truth at least this well: where it does not (0.5-0.7 on the synthetic corpus's obama2 look while
# the renderer crossed its lips at rest, before December 5), it caps any generated mouth there.
READABLE_MIN = 0.8


class TeacherBackend:
  """A decoder-prior run (training.prior_trainer) as a generator: each frame drawn from the teacher
  code of the driving clip's real frame and mesh, not from audio. What lip-sync on that decoder
  can reach at best: the mouth it draws when the code is exactly right (own clip), and how well a
  code carries a mouth to another identity (cross)."""

  def __init__(self, workdir: str):
    import jax
    from lipsync_jax import export
    from lipsync_jax.models import stylelipsync
    config, variables, step = export.load_checkpoint(workdir,
                                                     stages=("prior", "lipsync", "adaptation"))
    self.resolution = config["model"]["resolution"]
    self.meta = {"checkpoint": os.path.abspath(workdir), "step": step,
                 "mask": config.get("mask", "pose"), "codes": "teacher",
                 "lip_hint": bool(config.get("lip_hint", False))}
    model = stylelipsync.from_config(config["model"])

    def generate(reference, masked, frames, masks, shapes):
      w_ref = model.apply(variables, reference[None], method=model.encode_reference)
      codes = model.apply(variables, w_ref, frames[None], masks[None], shapes[None],
                          method=model.teacher_latents)
      return model.apply(variables, masked[None], codes, "const", method=model.decode)[0]
    self._generate = jax.jit(generate)

  def generate(self, reference, masked, driver) -> np.ndarray:
    """uint8 reference (R, R, 3), float masked (T, R, R, 3) and the driving clip (its first T
    frames, masks and meshes) -> uint8 frames."""
    n = len(masked)
    shapes = driver["shapes"][:n]
    out = self._generate(inference._to_float(reference), masked.astype(np.float32),
                         inference._to_float(driver["frames"][:n]),
                         driver["masks"][:n].astype(np.float32), shapes)
    return inference._to_uint8(np.asarray(out))


def _generate(backend, reference, masked, driver, n):
  """Frames for `masked` (n frames) driven by the clip `driver`: its audio, or for a decoder
  prior its frames' codes."""
  if isinstance(backend, TeacherBackend):
    return backend.generate(reference, masked[:n], driver)
  return inference.generate_clip(backend, reference, masked, driver["mels"][:n])


# ---------------------------------------------------------------------------------------------
# The evaluation.


def _mean(values) -> float:
  """The mean over the finite values (NaN, without a warning, when there are none)."""
  values = np.asarray(values, np.float64)
  return float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else float("nan")


def _text(x) -> str:
  return x.decode() if isinstance(x, bytes) else str(x)


def ground_truth_opening(ex, n: int, measure=fg.inner_lip_opening) -> tuple[np.ndarray, str]:
  """The first n frames' ground-truth mouth opening and its origin: "rendered" (the synthetic
  corpus's own mesh, from the sidecar beside the source video) or "mesh" (MediaPipe on the
  full-resolution video, as stored in the dataset)."""
  sidecar = os.path.splitext(_text(ex["source"]))[0] + ".npz"
  start = int(ex.get("start_frame", 0))
  if os.path.exists(sidecar):
    with np.load(sidecar) as gt:
      if "landmarks" in gt and len(gt["landmarks"]) >= start + n:
        return np.array([measure(p) for p in gt["landmarks"][start:start + n]]), "rendered"
  return np.array([measure(p) for p in np.asarray(ex["landmarks"])[:n]]), "mesh"


def _clip(source, index: int, resolution: int, mask: str, max_frames: int,
          audio_gain_db: float = 0.0):
  ex = source[index]
  n = min(int(ex["num_frames"]), max_frames)
  frames = input_pipeline.clip_frames(ex, n, resolution)
  packed = ex["lip_mask" if mask == "pose" else "rect_mask"][:n]
  masks = np.stack([input_pipeline.resize_mask(m, resolution) for m in
                    input_pipeline.unpack_masks(packed)]).reshape(n, resolution, resolution, 1)
  mel = np.asarray(ex["mel"])
  opening, truth = ground_truth_opening(ex, n)
  mels = audio_lib.warp_mel(audio_lib.mel_windows(mel, range(n)), 1.0, audio_gain_db / 10)
  return {"frames": frames, "masks": masks, "mels": mels,
          "opening": opening, "truth": truth, "identity": _text(ex["identity"]),
          "clip_id": _text(ex["clip_id"]), "landmarks": np.asarray(ex["landmarks"])[:n],
          "shapes": input_pipeline.mouth_shapes(ex, 0, n),
          "poses": [(float(s), np.asarray(r, np.float64), np.asarray(t, np.float64)) for s, r, t in
                    zip(np.asarray(ex["head_scale"])[:n], np.asarray(ex["head_rotation"])[:n],
                        np.asarray(ex["head_translation"])[:n])]}


def _masked(clip, backend=None, driver=None):
  """The clip's masked frames; for a model trained with lip_hint, with the driver's lips drawn in
  the clip's head poses: a decoder prior's the driver's true lips, a lip-sync model's those it
  predicts from the driver's audio and the clip's first frame (the reference)."""
  x = clip["frames"].astype(np.float32) / 127.5 - 1
  masked = x * (1 - clip["masks"].astype(np.float32))
  if backend is None or not backend.meta.get("lip_hint"):
    return masked
  if backend.meta.get("codes") == "teacher":
    r = clip["frames"].shape[1]
    hints = np.stack([lip_hint.render(lip_hint.transfer(p, dp, cp), r) for p, dp, cp in
                      zip(driver["landmarks"], driver["poses"], clip["poses"])])
    return lip_hint.draw(masked, clip["masks"], hints)
  n = len(masked)
  reference_lips = lip_hint.canonical(clip["landmarks"][0], clip["poses"][0])
  return inference.draw_predicted_lips(backend, masked, clip["masks"], reference_lips,
                                       driver["mels"][:n], clip["poses"])


def paste(generated: np.ndarray, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """The model's crops pasted into the real crops through the lip mask feathered by a Gaussian:
  what `infer` writes into the video (face_tracking.composite), at the model's resolution."""
  sigma = inference.Options().feather * generated.shape[1]
  out = np.empty_like(generated)
  for i, (g, f, m) in enumerate(zip(generated, frames, masks)):
    a = cv2.GaussianBlur(m[..., 0].astype(np.float32), (0, 0), sigma)[..., None]
    out[i] = np.clip(np.round(f * (1 - a) + g.astype(np.float32) * a), 0, 255)
  return out


def mouth_strip(real: np.ndarray, generated: np.ndarray, masks: np.ndarray, columns: int = 16,
                step: int = 2, size: int = 64) -> np.ndarray:
  """Real (top) and generated (bottom) mouths side by side, every `step`-th frame from the start of
  a clip's speech: squares of half the crop's side centred on each frame's lip mask, `size` px."""
  from lipsync_jax.training import losses
  import jax.numpy as jnp
  r = real.shape[1]
  moving = np.flatnonzero(np.abs(np.diff(real.astype(np.float32), axis=0)).mean(axis=(1, 2, 3)))
  first = max(0, min(int(moving[0]) if len(moving) else 0, len(real) - columns * step))
  index = np.arange(first, min(len(real), first + columns * step), step)
  rows = []
  for images in (real, generated):
    crops = np.asarray(losses.mouth_crops(jnp.asarray(images[index]), jnp.asarray(masks[index]),
                                          r // 2))
    rows.append(np.concatenate([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA)
                                for c in crops], 1))
  return np.concatenate(rows, 0)


def evaluate(backend: backends.Backend, syncnet_dir: str | None, data_dir: str,
             dataset: str = "synthetic_talking_faces", split: str = "test", num_clips: int = 8,
             max_frames: int = 100, mask: str | None = None, progress: bool = True,
             strip_path: str | None = None, exclude=(), csim_every: int = 1,
             audio_gain_db: float = 0.0) -> dict:
  """The report (see the module's docstring) on the first `num_clips` clips of the split whose ids
  are not in `exclude` (e.g. the clip a model was adapted on); with `strip_path`, the first clip's
  real and generated mouths (own audio) as an image there (mouth_strip); CSIM on every
  `csim_every`-th generated frame (dlib's descriptor takes about 85 ms a frame on 2 cores); the
  driving audio `audio_gain_db` louder (negative: quieter)."""
  from tqdm import tqdm
  if csim_every < 1:
    raise ValueError(f"csim_every {csim_every}: must be 1 or more")
  source = input_pipeline.open_split(dataset, data_dir, split)
  r = backend.resolution
  mask = mask or backend.meta.get("mask", "pose")
  exclude, chosen = set(exclude), []
  for i in range(len(source)):  # reads records only until num_clips are found (splits can be large)
    if len(chosen) == num_clips:
      break
    if _text(source[i]["clip_id"]) not in exclude:
      chosen.append(i)
  clips = [_clip(source, i, r, mask, max_frames, audio_gain_db) for i in chosen]
  if len(clips) < 2:
    raise ValueError(f"{data_dir} {split}: cross-identity evaluation needs at least 2 clips")
  sync = metrics.SyncNetEmbedder(syncnet_dir) if syncnet_dir else None
  lm, emb = metrics.Landmarks(), metrics.FaceEmbedding()
  rows = []
  for i, clip in enumerate(tqdm(clips, desc="evaluate", disable=not progress)):
    # The driving clip for the cross-identity row: the next clip of another identity, if any.
    others = [c for c in clips[i + 1:] + clips[:i] if c["identity"] != clip["identity"]]
    driver = (others or clips[i + 1:] + clips[:i])[0]
    ref = clip["frames"][0]
    own = paste(_generate(backend, ref, _masked(clip, backend, clip), clip, len(clip["frames"])),
                clip["frames"], clip["masks"])
    gt_mesh = metrics.landmarks(lm, clip["frames"])
    gt_open = metrics.mouth_openings(gt_mesh)
    sync_window = sync_clip = lse_d = lse_c = offset = float("nan")
    if sync:
      sync_window, sync_clip = syncnet.sync_discrimination(*sync.embed(clip["frames"], clip["mels"]))
    own_mesh = metrics.landmarks(lm, own)
    own_open = metrics.mouth_openings(own_mesh)
    if strip_path and i == 0:
      strip = mouth_strip(clip["frames"], own, clip["masks"])
      with media.atomic_path(strip_path) as tmp:
        cv2.imwrite(tmp, cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    lmd, lmd_frames = metrics.lip_distance(own_mesh, gt_mesh)
    n = min(len(clip["frames"]), len(driver["frames"]))
    cross_clip = {k: clip[k][:n] for k in ("frames", "masks", "poses", "landmarks")}
    cross = paste(_generate(backend, ref, _masked(cross_clip, backend, driver), driver, n),
                  cross_clip["frames"], cross_clip["masks"])
    cross_open = metrics.mouth_openings(metrics.landmarks(lm, cross))
    if sync:
      lse_d, lse_c, offset = metrics.lse(*sync.embed(cross, driver["mels"][:n]))
    ref_emb = emb(ref)
    csim = np.mean([np.dot(e, ref_emb) / np.linalg.norm(e) / np.linalg.norm(ref_emb)
                    for e in (emb(f) for f in cross[::csim_every])])
    valid_own = np.isfinite(own_open)
    valid_cross = np.isfinite(cross_open)
    rows.append({
        "clip": clip["clip_id"], "identity": clip["identity"], "driver": driver["clip_id"],
        "ground_truth": clip["truth"],
        "frames": len(own), "cross_frames": n,
        "psnr": float(np.mean([metrics.psnr(g, t) for g, t in zip(own, clip["frames"])])),
        "ssim": float(np.mean([metrics.ssim(g, t) for g, t in zip(own, clip["frames"])])),
        "lmd": lmd, "lmd_frames": lmd_frames,
        "lse_d": lse_d, "lse_c": lse_c, "lse_offset": offset, "csim": float(csim),
        "mouth_corr_own": metrics.pearson(own_open[valid_own], clip["opening"][valid_own]),
        "mouth_corr_cross": metrics.pearson(cross_open[valid_cross],
                                            driver["opening"][:n][valid_cross]),
        "mouth_corr_gt_mesh": metrics.pearson(gt_open[np.isfinite(gt_open)],
                                      clip["opening"][np.isfinite(gt_open)]),
        # How far the generated mouth moves against the real one (1: as much) and when.
        "mouth_std_ratio": float(np.nanstd(own_open) / max(np.std(clip["opening"]), 1e-9)),
        "mouth_lag": metrics.best_lag(own_open, clip["opening"]),
        "mesh_found_own": float(valid_own.mean()), "mesh_found_cross": float(valid_cross.mean()),
        "sync_window_accuracy": sync_window, "sync_clip_accuracy": sync_clip,
    })
  keys = ("psnr", "ssim", "lmd", "lse_d", "lse_c", "csim", "mouth_corr_own", "mouth_corr_cross",
          "mouth_corr_gt_mesh", "mouth_std_ratio", "mouth_lag", "mesh_found_own",
          "mesh_found_cross", "sync_window_accuracy", "sync_clip_accuracy")
  summary = {k: _mean([row[k] for row in rows]) for k in keys}
  summary.update(readable_summary(rows))
  return {"model": backend.meta.get("checkpoint") or "exported", "step": backend.meta.get("step"),
          "codes": backend.meta.get("codes", "audio"), "resolution": r, "mask": mask,
          "syncnet": sync.name if sync else "none (not measured)", "dataset": dataset, "split": split,
          "data_dir": os.path.abspath(data_dir), "num_clips": len(rows),
          "csim_model": "dlib_face_recognition_resnet_model_v1 (not ArcFace)",
          "csim_every": csim_every, "audio_gain_db": audio_gain_db,
          "ground_truth": ",".join(sorted({row["ground_truth"] for row in rows})),
          "summary": summary, "clips": rows}


def readable_summary(rows, threshold: float = READABLE_MIN) -> dict:
  """The mouth r over the clips the instrument can read (READABLE_MIN): own audio on the clips whose
  real frames' reading tracks their ground truth at r >= threshold, other audio on the clips whose
  driver's does (the other audio's truth is the driver's), and how many clips of each count."""
  instrument = {row["clip"]: row["mouth_corr_gt_mesh"] for row in rows}
  own = [row["mouth_corr_own"] for row in rows if instrument[row["clip"]] >= threshold]
  cross = [row["mouth_corr_cross"] for row in rows
           if instrument.get(row["driver"], -1.0) >= threshold]
  return {"readable_min": threshold, "readable_own_clips": len(own),
          "readable_cross_clips": len(cross), "mouth_corr_own_readable": _mean(own),
          "mouth_corr_cross_readable": _mean(cross)}


def markdown(report: dict) -> str:
  s = report["summary"]
  lines = [
      f"Evaluation of {report['model']} (step {report['step']}, {report['resolution']}x"
      f"{report['resolution']}, {report['mask']} mask) on {report['num_clips']} clips of "
      f"{report['dataset']}/{report['split']}." + (
          " Codes: the decoder prior's, of the driving clip's real frames (not audio)."
          if report.get("codes") == "teacher" else "") + (
          f" The driving audio {report['audio_gain_db']:+g} dB."
          if report.get("audio_gain_db") else ""),
      "",
      "| Method | PSNR ↑ | SSIM ↑ | LMD ↓ | LSE-D ↓ | LSE-C ↑ | CSIM ↑ |",
      "|---|---|---|---|---|---|---|",
      f"| lipsync_jax | {s['psnr']:.2f} | {s['ssim']:.3f} | {s['lmd']:.2f} | {s['lse_d']:.3f} | "
      f"{s['lse_c']:.3f} | {s['csim']:.3f} |",
      "",
      "PSNR, SSIM, LMD: reconstruction with the clip's own audio (LMD in pixels of the 256 crop). "
      "LSE-D/C and CSIM: cross-identity (another clip's audio). "
      f"LSE with our SyncNet: {report['syncnet']}, unit embeddings (distances in [0, 2]). "
      f"CSIM with {report['csim_model']}" + (
          f", on one generated frame in {report['csim_every']}." if report.get("csim_every", 1) > 1
          else "."),
      "",
      f"| Mouth opening vs ground truth ({report['ground_truth']}; Pearson r) | own audio | "
      "other audio |",
      "|---|---|---|",
      f"| generated frames (MediaPipe) | {s['mouth_corr_own']:.3f} | {s['mouth_corr_cross']:.3f} |",
      f"| generated frames, the clips the instrument reads (r >= {s['readable_min']:.2f} on the "
      f"real frames: {s['readable_own_clips']} / {s['readable_cross_clips']} of "
      f"{report['num_clips']}) | {s['mouth_corr_own_readable']:.3f} | "
      f"{s['mouth_corr_cross_readable']:.3f} |",
      f"| real frames (MediaPipe, the measuring instrument) | {s['mouth_corr_gt_mesh']:.3f} | |",
      "",
      f"Own audio: the generated opening's standard deviation is {s['mouth_std_ratio']:.2f} of the "
      f"ground truth's; its best-correlating lag is {s['mouth_lag']:+.1f} frames on average "
      "(positive: it trails).",
  ]
  if np.isfinite(s["sync_window_accuracy"]):  # NaN without a SyncNet (--syncnet)
    lines += [
        "",
        f"SyncNet on the real clips: aligned audio scores above audio shifted by {SHIFTS.start}-"
        f"{SHIFTS.stop - 1} frames (either way) in {100 * s['sync_window_accuracy']:.1f}% of "
        f"5-frame windows and, averaged over each clip, in {100 * s['sync_clip_accuracy']:.1f}% "
        "of (clip, shift) pairs; chance is 50%.",
    ]
  return "\n".join(lines) + "\n"


def _stage(workdir: str) -> str:
  from lipsync_jax import checkpoints
  try:
    return checkpoints.read_config(workdir).get("stage", "")
  except (OSError, ValueError):
    return ""  # checkpoint_backend says what is wrong with it


def main(argv=None):
  p = argparse.ArgumentParser(prog="python -m lipsync_jax.evaluate", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  model = p.add_mutually_exclusive_group(required=True)
  model.add_argument("--checkpoint", help="workdir of a lipsync or adaptation run, or of a "
                     "decoder-prior run (then generated from the true frames' codes: its ceiling)")
  model.add_argument("--exported", help="artifact written by python -m lipsync_jax.export")
  p.add_argument("--codes", choices=("audio", "teacher"), default=None,
                 help="what drives the decoder: the audio (lip-sync; the default for lipsync and "
                 "adaptation runs) or the prior's codes of the driving clip's real frames (the "
                 "decoder's ceiling; the only choice for a decoder-prior run)")
  p.add_argument("--syncnet", help="workdir of a syncnet run (or lipsync run): LSE-D/C and the "
                 "SyncNet's discrimination; without it they are not measured")
  p.add_argument("--data_dir", required=True, help="TFDS data folder (data_prep.build_tfds)")
  p.add_argument("--dataset", default="synthetic_talking_faces", help="TFDS dataset name")
  p.add_argument("--split", default="test", help="split to evaluate on")
  p.add_argument("--num_clips", type=int, default=8, help="the split's first N clips")
  p.add_argument("--exclude", default="", help="comma-separated clip ids to leave out (the "
                 "clip a model was adapted on: its id is its prepared file's name)")
  p.add_argument("--max_frames", type=int, default=100, help="frames per clip")
  p.add_argument("--csim_every", type=int, default=1, help="CSIM on every k-th generated frame "
                 "(dlib's descriptor takes about 85 ms a frame on 2 cores)")
  p.add_argument("--audio_gain_db", type=float, default=0.0, help="hear the driving audio this "
                 "many dB louder (negative: quieter), as another recording level would give it")
  p.add_argument("--mask", choices=("pose", "rect"), default=None,
                 help="lip mask (default: the one the model was trained with)")
  p.add_argument("--output_dir", required=True,
                 help="where report.json, report.md and mouths.png are written")
  p.add_argument("--compilation_cache_dir", default=backends.COMPILATION_CACHE_DIR,
                 help="keeps XLA's compiled model here for the next run ('': off)")
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  p.add_argument("--verbose", action="store_true", help="show MediaPipe's start-up messages")
  args = p.parse_args(argv)
  face_mesh.set_verbose(args.verbose)
  face_mesh.native_stderr_to_null()
  backends.use_compilation_cache(args.compilation_cache_dir)
  outputs = [os.path.join(args.output_dir, n) for n in ("mouths.png", "report.json", "report.md")]
  with fileio.stop_on_signals("evaluate", fileio.outputs_note(*outputs)):
    try:
      if args.exported and args.codes == "teacher":
        raise ValueError(f"{args.exported}: an exported model has no frame encoder: --codes "
                         "teacher needs --checkpoint")
      if args.exported:
        backend = backends.exported_backend(args.exported)
      elif args.codes == "teacher" or _stage(args.checkpoint) == "prior":
        backend = TeacherBackend(args.checkpoint)
      else:
        backend = backends.checkpoint_backend(args.checkpoint)
      os.makedirs(args.output_dir, exist_ok=True)
      report = evaluate(backend, args.syncnet, args.data_dir, args.dataset, args.split,
                        args.num_clips, args.max_frames, args.mask, progress=not args.quiet,
                        exclude=[x for x in args.exclude.split(",") if x],
                        strip_path=outputs[0], csim_every=args.csim_every,
                        audio_gain_db=args.audio_gain_db)
    except (FileNotFoundError, ValueError, media.MediaError) as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
    for path, text in zip(outputs[1:], (json.dumps(report, indent=1), markdown(report))):
      with media.atomic_path(path) as tmp:
        with open(tmp, "w") as f:
          f.write(text)
  print(markdown(report))
  return 0


if __name__ == "__main__":
  sys.exit(main())
