"""Train, measure and write a bundled checkpoint: ``python -m training.bundle NAME``.

    python -m training.bundle mnist-classifier     # first: the others are measured with it
    python -m training.bundle mnist-dcgan
    python -m training.bundle mnist-wgangp
    python -m training.bundle mnist-cgan
    python -m training.bundle maps-pix2pix
    python -m training.bundle maps-unet
    python -m training.bundle horse-zebra-classifier   # before horse2zebra-cyclegan: it judges it
    python -m training.bundle horse2zebra-cyclegan

Each bundle trains its recipe with the normal engine (a run directory under ``--runs``) and
writes one of the run's checkpoints to ``checkpoints/<NAME>/`` (config.json with
``studio.metrics``, model.safetensors, README.md card, samples.png), with its measured metrics:

- the classifier: its last checkpoint, which must reach 97% on the 1,000 held-out digits (the
  test split is only measured, never used to pick a checkpoint);
- GANs, judged by the bundled classifier: every checkpoint of the run is scored on 1,000 samples
  of seed 0, the best one that passes is re-measured on 1,000 fresh samples (seed 1), and those
  are the metrics written (so the choice does not flatter them). Unconditional models must draw
  all 10 digits, each between 5% and 15%; the conditional one must draw the digit asked for at
  least 95% of the time;
- translation models, on tiles and silhouettes they never trained on: pix2pix maps must colour at
  least 85% of the pixels of held-out map tiles with the right map class; the CycleGAN's translated
  horses must be called zebras (and its zebras horses) at least 85% of the time by the bundled
  horse-zebra-classifier. Checkpoints are chosen on a separate validation set (seed 0) and the
  metrics reported on the test set (seed 1);
- the segmentation U-Net, the same way on held-out map tiles: mean IoU over the 8 map classes at
  least 0.7 (per-class IoU in the card).

A bundle that does not pass is not written (exit code 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

N_SAMPLES = 1000
SELECT_SEED, REPORT_SEED = 0, 1


@dataclass(frozen=True)
class Bundle:
    recipe: str
    title: str
    measure: Callable[[torch.nn.Module, Path, int], dict]  # (model, checkpoints dir, seed) -> metrics
    passes: Callable[[dict], bool]
    score: Callable[[dict], float]  # higher is better, among passing checkpoints
    bar: str  # the requirement, in words, for the card
    last_only: bool = False  # the classifier: no choosing on the held-out split
    extra: dict = dataclasses.field(default_factory=dict)  # more config.json metadata


@functools.lru_cache(maxsize=4)  # the judge of every candidate checkpoint: read it once
def _load_bundled(checkpoints: Path, name: str, first: str):
    from studio.checkpoints import load

    path = checkpoints / name
    if not (path / "model.safetensors").is_file():
        raise SystemExit(f"error: {path} is missing: run python -m training.bundle {first} first")
    return load(path).model


def _classifier(checkpoints: Path):
    return _load_bundled(checkpoints, "mnist-classifier", "mnist-classifier")


def measure_classifier(model, checkpoints: Path, seed: int) -> dict:
    from studio.data import mnist
    from studio.audit.quality import predict

    held_out = mnist("test")  # the 1,000 digits the classifier never trained on
    predicted = predict(held_out.images, model)
    return {"heldout_accuracy": float((predicted == held_out.targets.numpy()).mean())}


def measure_coverage(model, checkpoints: Path, seed: int) -> dict:
    from studio.audit.quality import mode_coverage

    coverage = mode_coverage(model, _classifier(checkpoints), n=N_SAMPLES, seed=seed)
    fractions = coverage["fractions"]
    return {
        "min_class_fraction": float(fractions.min()),
        "max_class_fraction": float(fractions.max()),
        "classes_in_5_to_15_percent": int(np.sum((fractions >= 0.05) & (fractions <= 0.15))),
        "classes_seen": coverage["classes_seen"],
        "class_fractions": [round(float(f), 4) for f in fractions],
    }


def measure_conditional(model, checkpoints: Path, seed: int) -> dict:
    from studio.audit.quality import conditional_accuracy, mode_coverage

    classifier = _classifier(checkpoints)
    metrics = {"conditional_accuracy": conditional_accuracy(model, classifier, n=N_SAMPLES, seed=seed)}
    fractions = mode_coverage(model, classifier, n=N_SAMPLES, seed=seed)["fractions"]
    metrics["class_fractions"] = [round(float(f), 4) for f in fractions]
    return metrics


def measure_maps(model, checkpoints: Path, seed: int) -> dict:
    """Per-pixel map-class accuracy of G(satellite) against the true map, on held-out test tiles.

    The train split uses even tile seeds, the test split odd ones; validation (checkpoint
    choice) and report tiles are disjoint test tiles (dataset seeds 1 and 0).
    """
    from studio.data.maps import MAP_CLASSES, MapsDataset, map_classes

    tiles = MapsDataset(n=48 if seed == SELECT_SEED else 200, image_size=model.image_size, split="test",
                        seed=1 if seed == SELECT_SEED else 0, cache=False)
    correct = np.zeros(len(MAP_CLASSES)), np.zeros(len(MAP_CLASSES))  # right pixels, all pixels, per class
    l1 = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(tiles), 8):
            pairs = [tiles[i] for i in range(start, min(start + 8, len(tiles)))]
            satellite = torch.stack([p[0] for p in pairs])  # (B, 3, S, S)
            truth = torch.stack([p[1] for p in pairs])
            made = model.translate(satellite).clamp(-1, 1)
            l1.append(float((made - truth).abs().mean()))
            for fake, real in zip(made, truth):
                want, got = map_classes(real.numpy()), map_classes(fake.numpy())
                np.add.at(correct[0], want.ravel(), (want == got).ravel())
                np.add.at(correct[1], want.ravel(), 1)
    per_class = {name: round(float(c / n), 4) for name, c, n in zip(MAP_CLASSES, *correct) if n}
    return {"pixel_class_accuracy": float(correct[0].sum() / correct[1].sum()), "l1_to_map": float(np.mean(l1)),
            "tiles": len(tiles), "class_accuracy": per_class}


def measure_horse_zebra_classifier(model, checkpoints: Path, seed: int) -> dict:
    from studio.data import animals
    from studio.audit.quality import predict

    held_out = animals(("horse", "zebra"), image_size=model.image_size, split="test")  # 200 + 200
    predicted = predict(held_out.images, model)
    return {"heldout_accuracy": float((predicted == held_out.targets.numpy()).mean())}


def measure_cyclegan(model, checkpoints: Path, seed: int) -> dict:
    """How often the bundled horse/zebra classifier calls translated horses zebras and translated
    zebras horses; and the cycle reconstruction L1 |F(G(x)) - x| in [-1, 1] units.

    Validation (checkpoint choice) uses the train silhouettes; the report, the 400 test ones.
    """
    from studio.data.translation import HorseZebra
    from studio.audit.quality import predict

    judge = _load_bundled(checkpoints, "horse-zebra-classifier", "horse-zebra-classifier")
    data = HorseZebra(image_size=model.image_size, split="train" if seed == SELECT_SEED else "test")
    horses, zebras = data.horses, data.zebras  # (N, 1, S, S); classifier labels: horse 0, zebra 1
    if seed == SELECT_SEED:
        horses, zebras = horses[:200], zebras[:200]
    model.eval()
    with torch.no_grad():
        as_zebras = torch.cat([model.translate(b, "a2b") for b in horses.split(100)]).clamp(-1, 1)
        as_horses = torch.cat([model.translate(b, "b2a") for b in zebras.split(100)]).clamp(-1, 1)
        back_horses = torch.cat([model.translate(b, "b2a") for b in as_zebras.split(100)])
        back_zebras = torch.cat([model.translate(b, "a2b") for b in as_horses.split(100)])
    return {
        "horse_to_zebra_rate": float((predict(as_zebras, judge) == 1).mean()),
        "zebra_to_horse_rate": float((predict(as_horses, judge) == 0).mean()),
        "cycle_l1_horse": float((back_horses - horses).abs().mean()),
        "cycle_l1_zebra": float((back_zebras - zebras).abs().mean()),
        "test_images": len(horses) + len(zebras),
    }


def _coverage_ok(m: dict) -> bool:
    return m["classes_in_5_to_15_percent"] == 10


def _coverage_score(m: dict) -> float:  # closest to uniform: the largest deviation from 10%
    return -max(abs(f - 0.1) for f in m["class_fractions"])


def measure_segmentation(model, checkpoints: Path, seed: int) -> dict:
    """Per-class IoU of the U-Net's classes against the exact map classes of held-out test tiles
    (the same selection / report tiles as measure_maps), from one confusion matrix over all pixels."""
    from studio.apply.segmentation import confusion, segmentation_report
    from studio.data.maps import MAP_CLASSES, MapsSegmentation

    tiles = MapsSegmentation(n=48 if seed == SELECT_SEED else 200, image_size=model.image_size, split="test",
                             seed=1 if seed == SELECT_SEED else 0, cache=False)
    matrix = np.zeros((len(MAP_CLASSES), len(MAP_CLASSES)), dtype=np.int64)
    model.eval()
    for start in range(0, len(tiles), 16):
        pairs = [tiles[i] for i in range(start, min(start + 16, len(tiles)))]
        predicted = model.segment(torch.stack([p[0] for p in pairs]))
        matrix += confusion(predicted, torch.stack([p[1] for p in pairs]), len(MAP_CLASSES))
    report = segmentation_report(matrix, MAP_CLASSES)
    return {"mean_iou": report["mean_iou"], "pixel_accuracy": report["pixel_accuracy"], "tiles": len(tiles),
            "class_iou": {k: round(v, 4) for k, v in report["class_iou"].items()}}


COVERAGE_BAR = "all 10 digits appear, each between 5% and 15% of 1,000 samples (bundled mnist-classifier)"
DIGITS = {"class_names": [str(d) for d in range(10)]}
BUNDLES: dict[str, Bundle] = {
    "mnist-classifier": Bundle("mnist-classifier", "MNIST digit classifier", measure_classifier,
                               lambda m: m["heldout_accuracy"] >= 0.97, lambda m: m["heldout_accuracy"],
                               "held-out accuracy >= 97% on the 1,000 test digits", last_only=True, extra=DIGITS),
    "mnist-dcgan": Bundle("mnist-dcgan", "MNIST digits, DCGAN", measure_coverage, _coverage_ok, _coverage_score,
                          COVERAGE_BAR, extra=DIGITS),
    "mnist-wgangp": Bundle("mnist-wgangp", "MNIST digits, WGAN-GP", measure_coverage, _coverage_ok, _coverage_score,
                           COVERAGE_BAR, extra=DIGITS),
    "mnist-cgan": Bundle("mnist-cgan", "MNIST digits, conditional GAN", measure_conditional,
                         lambda m: m["conditional_accuracy"] >= 0.95, lambda m: m["conditional_accuracy"],
                         ">= 95% of 1,000 samples classified as the digit asked for (bundled mnist-classifier)",
                         extra=DIGITS),
    "maps-pix2pix": Bundle("maps-pix2pix", "Satellite photo to map, pix2pix", measure_maps,
                           lambda m: m["pixel_class_accuracy"] >= 0.85, lambda m: m["pixel_class_accuracy"],
                           ">= 85% of the pixels of held-out map tiles get the right map class (nearest map colour)",
                           extra={"domains": ["satellite photo", "map"], "directions": ["a2b"]}),
    "maps-unet": Bundle("maps-unet", "Satellite tile segmentation, U-Net", measure_segmentation,
                        lambda m: m["mean_iou"] >= 0.7, lambda m: m["mean_iou"],
                        "mean IoU >= 0.7 over the 8 map classes on held-out tiles",
                        extra={"class_names": ["background", "park", "water", "building", "rail", "road_outline",
                                               "road_minor", "road_major"]}),
    "horse-zebra-classifier": Bundle("horse-zebra-classifier", "Horse or zebra silhouette classifier",
                                     measure_horse_zebra_classifier, lambda m: m["heldout_accuracy"] >= 0.9,
                                     lambda m: m["heldout_accuracy"],
                                     "held-out accuracy >= 90% on the 400 test silhouettes", last_only=True,
                                     extra={"class_names": ["horse", "zebra"]}),
    "horse2zebra-cyclegan": Bundle("horse2zebra-cyclegan", "Horse to zebra and back, CycleGAN", measure_cyclegan,
                                   lambda m: min(m["horse_to_zebra_rate"], m["zebra_to_horse_rate"]) >= 0.85,
                                   lambda m: min(m["horse_to_zebra_rate"], m["zebra_to_horse_rate"]),
                                   ">= 85% of translated horses called zebras and >= 85% of translated zebras called "
                                   "horses (bundled horse-zebra-classifier)",
                                   extra={"domains": ["horse", "zebra"], "directions": ["a2b", "b2a"]}),
}


def sample_grid(model) -> np.ndarray | None:
    """GANs: 100 samples of seed 1 (conditional models draw one digit per column). Translation:
    held-out inputs over their translations (and, for maps, the true map tiles)."""
    from studio.imaging import grid

    with torch.no_grad():
        if getattr(model, "family", "") == "pix2pix":
            from studio.data.maps import MapsDataset

            tiles = MapsDataset(n=6, image_size=model.image_size, split="test", seed=0)
            satellite = torch.stack([tiles[i][0] for i in range(6)])
            truth = torch.stack([tiles[i][1] for i in range(6)])
            return grid(torch.cat([satellite, model.translate(satellite).clamp(-1, 1), truth]), nrow=6)
        if getattr(model, "family", "") == "unet":
            from studio.data.maps import MapsSegmentation
            from training.loop import segmentation_rows

            tiles = MapsSegmentation(n=8, image_size=model.image_size, split="test", seed=0)
            return grid(segmentation_rows(model, torch.stack([tiles[i][0] for i in range(8)]),
                                          torch.stack([tiles[i][1] for i in range(8)])), nrow=8)
        if getattr(model, "family", "") == "cyclegan":
            from studio.data.translation import HorseZebra

            data = HorseZebra(image_size=model.image_size, split="test")
            horses, zebras = data.horses[:10], data.zebras[:10]
            rows = [horses, model.translate(horses, "a2b"), zebras, model.translate(zebras, "b2a")]
            return grid(torch.cat(rows).clamp(-1, 1), nrow=10)
        if not hasattr(model, "generate"):
            return None
        labels = torch.arange(100) % model.num_classes if getattr(model, "num_classes", 0) else None
        images = model.generate(model.sample_latent(100, REPORT_SEED), labels)
    return grid(images, nrow=10)


SAMPLES_CAPTION = {
    "pix2pix": "samples.png: held-out satellite tiles (top), the model's maps (middle), the true maps (bottom).",
    "unet": "samples.png: held-out satellite tiles (top), the U-Net's classes (middle), the true classes (bottom), "
            "in the map palette.",
    "cyclegan": "samples.png: test horses, their zebra translations, test zebras, their horse translations (rows).",
}


def describe(bundle: Bundle, recipe, step: int, metrics: dict, elapsed: float, choice: tuple[int, int, int]) -> str:
    """``choice``: (checkpoints measured, how many passed on the selection set, rank of the one kept)."""
    measured, passed, rank = choice
    how = (f"of the run's {measured} checkpoints, {passed} passed the bar on the selection set; tried best first on "
           f"the report set, the {_ordinal(rank)} passed there too")
    if not rank:
        how = (f"**it does not meet its bar**: none of the run's {measured} checkpoints did, and this one, the best on "
               f"the selection set, is bundled so that the page has a model to show until a better one is trained")
    if bundle.last_only:
        chosen = f"this is its last checkpoint (step {step}). Bar: {bundle.bar}."
    elif recipe.family in SAMPLES_CAPTION:
        chosen = (f"this is the checkpoint of step {step}: {how}. The selection set is a validation set; the "
                  f"metrics below are measured on held-out test images it never saw. Bar: {bundle.bar}.")
    else:
        chosen = (f"this is the checkpoint of step {step}: {how}. Selection: 1,000 samples of seed {SELECT_SEED}; "
                  f"the metrics below are on 1,000 fresh samples (seed {REPORT_SEED}). Bar: {bundle.bar}.")
    lines = [
        f"{recipe.description}. Trained with `python -m training.bundle {recipe.name}` "
        f"(recipe `{recipe.name}`, {recipe.steps} steps, batch {recipe.batch_size}); {chosen}",
        f"Training took {elapsed / 60:.1f} min on a 2-core CPU.",
    ]
    if "class_fractions" in metrics:
        shown = ", ".join(f"{digit}: {100 * f:.1f}%" for digit, f in enumerate(metrics["class_fractions"]))
        lines.append(f"Digits drawn (share of 1,000 samples, seed {REPORT_SEED}, judged by the bundled mnist-classifier): {shown}.")
    if "class_accuracy" in metrics:
        shown = ", ".join(f"{name} {100 * f:.1f}%" for name, f in metrics["class_accuracy"].items())
        lines.append(f"Per map class, share of its pixels coloured right on {metrics['tiles']} test tiles: {shown}.")
    if "class_iou" in metrics:
        shown = ", ".join(f"{name} {v:.3f}" for name, v in metrics["class_iou"].items())
        lines.append(f"IoU per map class on {metrics['tiles']} held-out test tiles (mean {metrics['mean_iou']:.3f}, "
                     f"pixel accuracy {100 * metrics['pixel_accuracy']:.1f}%): {shown}.")
    if recipe.family in SAMPLES_CAPTION:
        lines.append(SAMPLES_CAPTION[recipe.family])
    return "\n\n".join(lines)


def training_seconds(run_dir: Path) -> float:
    """Time spent stepping, from the events' clock: pauses between a stop and a resume are left out."""
    from training.runs import read_events

    times = [e["time"] for e in read_events(run_dir) if "event" not in e and "time" in e]
    return float(sum(b - a for a, b in zip(times, times[1:]) if b - a < 60))


def _ordinal(n: int) -> str:
    return {1: "best", 2: "2nd best", 3: "3rd best"}.get(n, f"{n}th best")


def _rounded(metrics: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(BUNDLES))
    parser.add_argument("--out", default="checkpoints", help="parent of the bundled checkpoint (default: checkpoints)")
    parser.add_argument("--runs", default="runs", help="where the training run goes (default: runs)")
    parser.add_argument("--steps", type=int, help="override the recipe's step count")
    parser.add_argument("--checkpoint-every", type=int, default=250, help="candidates to measure (default: 250)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--from-run", metavar="RUN_DIR", help="measure an existing run instead of training")
    parser.add_argument("--below-bar", action="store_true",
                        help="when no checkpoint passes, write the best one anyway, its card saying it misses the bar")
    args = parser.parse_args(argv)

    from studio.checkpoints import load, save
    from training.loop import train
    from training.recipes import apply_overrides, get_recipe, recipe_from_dict
    from training.runs import RunDir, read_status

    bundle = BUNDLES[args.name]
    out = Path(args.out)
    if args.from_run:
        run_dir = Path(args.from_run)
        status = read_status(run_dir)
        recipe = recipe_from_dict(status["config"])
    else:
        recipe = apply_overrides(get_recipe(bundle.recipe), args.overrides)
        recipe = dataclasses.replace(recipe, keep_checkpoints=0, checkpoint_every=args.checkpoint_every,
                                     **({"steps": args.steps} if args.steps else {}))
        from tqdm import tqdm

        bar = tqdm(total=recipe.steps, unit="step", desc=recipe.name)
        result = train(recipe, out=args.runs, run_id=f"bundle-{args.name}-{time.strftime('%Y%m%d-%H%M%S')}",
                       on_event=lambda e: bar.update(1) if "event" not in e else None)
        bar.close()
        if result.status != "finished":
            print(f"error: training {result.status}: {result.message}", file=sys.stderr)
            return 1
        run_dir = result.run_dir
    elapsed = training_seconds(run_dir)

    candidates = RunDir(run_dir).list_checkpoints()
    if bundle.last_only:
        candidates = candidates[-1:]
    passing, scored = [], []
    for step, path in candidates:
        metrics = bundle.measure(load(path).model, out, SELECT_SEED)
        ok = bundle.passes(metrics)
        print(f"step {step:>6}: {'PASS' if ok else 'fail'} {_rounded(metrics)}")
        scored.append((bundle.score(metrics), step, path))
        if ok:
            passing.append((bundle.score(metrics), step, path))
    best = None
    for rank, (_, step, path) in enumerate(sorted(passing, reverse=True), 1):  # best first; must pass again
        model = load(path).model
        metrics = metrics if bundle.last_only else bundle.measure(model, out, REPORT_SEED)
        if not bundle.last_only:
            print(f"step {step:>6} on fresh samples: {'PASS' if bundle.passes(metrics) else 'fail'} {_rounded(metrics)}")
        if bundle.passes(metrics):
            best = (step, metrics, model, (len(candidates), len(passing), rank))
            break
    if best is None and not args.below_bar:
        print(f"error: no checkpoint of {run_dir} passes: {bundle.bar}", file=sys.stderr)
        return 1
    if best is None:  # --below-bar: the best on the selection set, measured on the report set
        _, step, path = max(scored)
        model = load(path).model
        metrics = bundle.measure(model, out, REPORT_SEED)
        best = (step, metrics, model, (len(candidates), 0, 0))
        print(f"warning: no checkpoint passes; writing step {step}, the best on the selection set: {_rounded(metrics)}")
    step, metrics, model, choice = best
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    dataset = recipe.dataset if recipe.dataset != "mnist" else "mnist-5k"
    metadata = {
        "title": bundle.title,
        "image_size": recipe.image_size,
        "channels": recipe.channels,
        "dataset": dataset if recipe.data_split in ("all", "") else f"{dataset}:{recipe.data_split}",
        "recipe": recipe.name,
        "metrics": numbers,
        "license": "mit",
        "description": describe(bundle, recipe, step, metrics, elapsed, choice),
        "meets_bar": bool(bundle.passes(metrics)),
        **bundle.extra,
    }
    # translation bundles ship their generators only: the discriminators are for training
    target = save(model.cpu().eval(), out / args.name, metadata=metadata, samples=sample_grid(model),
                  inference_only=recipe.family in ("pix2pix", "cyclegan"))
    size = sum(p.stat().st_size for p in target.iterdir()) / 2**20
    print(f"wrote {target} ({size:.1f} MB) from {run_dir} step {step}: {numbers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
