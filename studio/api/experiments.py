"""Endpoints for the course's apply labs: segmentation, augmentation, discriminator transfer,
semi-supervised learning."""

from __future__ import annotations

import math

from studio.api.common import check_int, load_model
from studio.errors import CheckpointError, DataError

SEGMENTATION_MODELS = ("maps-unet", "maps-pix2pix")
EXPERIMENT_KS = (10, 50, 100)
MAX_WAIT_S = 600


def check_float(name: str, value, low: float, high: float) -> float:
    """``value`` as a finite number in [low, high], else DataError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a number from {low} to {high}, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or not low <= number <= high:
        raise DataError(f"{name} must be a number from {low} to {high}, got {value!r}")
    return number


def segment(tile=0) -> dict:
    """/segment: held-out map tile ``tile`` through the bundled U-Net and pix2pix: uint8 images
    (satellite, truth, predicted, pix2pix, pix2pix_classes) and the per-class IoU of both."""
    from studio.apply import segment_tile

    tile = check_int("tile", tile, 0, 999)
    unet = load_model(SEGMENTATION_MODELS[0])[1].model
    try:
        pix2pix = load_model(SEGMENTATION_MODELS[1])[1].model
    except CheckpointError:
        pix2pix = None
    return segment_tile(unet, tile, pix2pix)


def _experiment_ks(ks) -> list[int]:
    if isinstance(ks, (int, float, str)):
        ks = [part for part in str(ks).replace(" ", "").split(",") if part]
    try:
        values = sorted({check_int("K", k, 1, 100) for k in ks})
    except TypeError:
        raise DataError(f"ks must be a list of K values from {EXPERIMENT_KS}, got {ks!r}") from None
    if not values or set(values) - set(EXPERIMENT_KS):
        raise DataError(f"ks must be some of {', '.join(map(str, EXPERIMENT_KS))}, got {ks!r}")
    return values


def _verdict(kind: str, result: dict) -> str:
    from studio import apply

    verdicts = {"augmentation": apply.augmentation_verdict, "transfer": apply.transfer_verdict,
                "semisupervised": apply.semisupervised_verdict}
    return verdicts[kind](result)


def _experiment(kind: str, settings: dict, wait_s) -> dict:
    """Start (or find) the background job, wait up to ``wait_s`` seconds, report where it is."""
    from studio import apply

    wait_s = check_int("wait_s", wait_s, 0, MAX_WAIT_S)
    job = apply.start_job(kind, settings).wait(wait_s)
    out = {"kind": kind, "settings": settings, "status": job.status, "progress": round(job.progress, 3),
           "message": job.message, "elapsed_s": round(job.elapsed, 1), "cached": job.cached}
    if job.status == "failed":
        raise DataError(f"the {kind} experiment failed: {job.error}")
    if job.status == "done":
        out.update(summary=job.result["summary"], reference=job.result.get("reference"),
                   verdict=_verdict(kind, job.result))
    return out


def augment(ks="10", seeds=1, ratio=1.0, steps=None, wait_s=120) -> dict:
    """/augment: a classifier on K real digits per class, real / + classic / + cGAN / + both.

    Runs as a background job (cached by its settings); the call waits up to ``wait_s`` s and
    otherwise returns status "running" with its progress: call again with the same settings.
    ``steps`` (10-300; default the page's) keeps a call short."""
    from studio.apply import augmentation

    settings = {"ks": _experiment_ks(ks), "seeds": check_int("seeds", seeds, 1, 5),
                "ratio": check_float("ratio", ratio, 0.25, 4.0)}
    if steps not in (None, "", 0):
        steps = check_int("steps", steps, 10, 300)
        if steps != augmentation.DEFAULTS["steps"]:
            settings["steps"] = steps
    return _experiment("augmentation", settings, wait_s)


def transfer(ks="10", seeds=1, source="mnist-dcgan", steps=None, wait_s=120) -> dict:
    """/transfer: a linear head on the frozen discriminator of ``source`` vs the same network from
    scratch, K labels per class; a background job like /augment."""
    from studio.apply import transfer as experiment

    if source not in experiment.SOURCES:
        raise DataError(f"source must be one of {', '.join(experiment.SOURCES)}, got {source!r}")
    settings = {"ks": _experiment_ks(ks), "seeds": check_int("seeds", seeds, 1, 5), "source": source}
    if steps not in (None, "", 0):
        steps = check_int("steps", steps, 10, 300)
        if steps != experiment.DEFAULTS["steps"]:
            settings["steps"] = steps
    return _experiment("transfer", settings, wait_s)


def semisupervised(ks="10", seeds=1, steps=None, unsup_weight=1.0, wait_s=120) -> dict:
    """/semisupervised: the K+1-class semi-supervised GAN (Salimans et al. 2016) against its own
    discriminator trained on the K labels per class only; a background job like /augment.
    ``unsup_weight`` (0-4): the weight of the unlabelled real/fake loss."""
    from studio.apply import semisupervised as experiment

    settings = {"ks": _experiment_ks(ks), "seeds": check_int("seeds", seeds, 1, 5)}
    if steps not in (None, "", 0):
        steps = check_int("steps", steps, 10, 3000)
        if steps != experiment.DEFAULTS["steps"]:
            settings["steps"] = steps
    weight = check_float("unsup_weight", 1.0 if unsup_weight in (None, "") else unsup_weight, 0.0, 4.0)
    if weight != experiment.DEFAULTS["unsup_weight"]:
        settings["unsup_weight"] = weight
    return _experiment("semisupervised", settings, wait_s)


def experiment_chart(result: dict):
    """The plotly chart of an /augment, /transfer or /semisupervised answer (None while it runs)."""
    from studio.apply.augmentation import LABELS, accuracy_chart
    from studio.apply.semisupervised import LABELS as SGAN_LABELS
    from studio.apply.transfer import LABELS as TRANSFER_LABELS

    if result.get("status") != "done":
        return None
    labels = {"augmentation": LABELS, "transfer": TRANSFER_LABELS, "semisupervised": SGAN_LABELS}[result["kind"]]
    return accuracy_chart(result["summary"], "condition", labels, "Held-out accuracy against K (95% intervals)",
                          reference=result.get("reference"))
