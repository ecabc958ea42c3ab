"""Segmentation scores: the confusion matrix, per-class IoU, and one tile segmented beside pix2pix.

IoU of class c (Jaccard index) over all pixels scored, from the confusion matrix C[true, predicted]:
    IoU_c = C[c, c] / (sum_j C[c, j] + sum_i C[i, c] - C[c, c])   (true positives / union)
mean IoU is the mean over the classes that occur (in the truth or the prediction); a class that
is absent from both is undefined (NaN) and left out. Pixel accuracy is trace(C) / sum(C).
"""

from __future__ import annotations

import numpy as np
import torch

from studio.errors import DataError


def confusion(predicted, truth, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts C[true, predicted] of two equal-shape integer label arrays."""
    p = np.asarray(predicted.detach().cpu() if isinstance(predicted, torch.Tensor) else predicted).astype(np.int64)
    t = np.asarray(truth.detach().cpu() if isinstance(truth, torch.Tensor) else truth).astype(np.int64)
    if p.shape != t.shape:
        raise DataError(f"confusion: predicted {p.shape} and true {t.shape} labels differ in shape")
    for name, a in (("predicted", p), ("true", t)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise DataError(f"confusion: {name} labels must be 0..{num_classes - 1}, got {a.min()}..{a.max()}")
    return np.bincount(t.ravel() * num_classes + p.ravel(), minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_from_confusion(matrix: np.ndarray) -> np.ndarray:
    """(K,) IoU per class; NaN where the class is in neither the truth nor the prediction."""
    matrix = np.asarray(matrix, dtype=np.float64)
    hits = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, hits / np.where(union > 0, union, 1), np.nan)


def segmentation_report(matrix: np.ndarray, class_names) -> dict:
    """mean IoU, pixel accuracy and per-class IoU (classes that occur) of a confusion matrix."""
    iou = iou_from_confusion(matrix)
    per_class = {name: float(v) for name, v in zip(class_names, iou) if not np.isnan(v)}
    return {"mean_iou": float(np.nanmean(iou)) if per_class else float("nan"),
            "pixel_accuracy": float(np.trace(matrix) / max(1, matrix.sum())), "class_iou": per_class}


@torch.no_grad()
def segment_tile(unet, seed: int, pix2pix=None) -> dict:
    """One held-out map tile (test split, tile ``seed``) through the U-Net, and through pix2pix when given.

    Returns uint8 images ``satellite``, ``truth`` (the true classes in the map palette),
    ``predicted`` (the U-Net's classes in the palette), ``pix2pix`` (pix2pix's generated map, as
    drawn, and ``pix2pix_classes``: its nearest palette classes) and the per-tile reports.
    """
    from studio.data.maps import MAP_CLASSES, MapsSegmentation, class_colours, map_classes
    from studio.imaging import to_uint8

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**20:
        raise DataError(f"segment_tile: seed must be a whole number from 0 to {2**20 - 1}, got {seed!r}")
    tiles = MapsSegmentation(n=int(seed) + 1, image_size=unet.image_size, split="test", seed=0, cache=False)
    satellite, truth = tiles[int(seed)]
    unet.eval()
    predicted = unet.segment(satellite[None].to(unet.device))[0].cpu()
    k = len(MAP_CLASSES)
    out = {
        "satellite": tiles.pair(int(seed))[0],
        "truth": class_colours(truth),
        "predicted": class_colours(predicted),
        "unet": segmentation_report(confusion(predicted, truth, k), MAP_CLASSES),
    }
    if pix2pix is not None:
        size = pix2pix.image_size
        big = MapsSegmentation(n=int(seed) + 1, image_size=size, split="test", seed=0, cache=False)
        x, big_truth = big[int(seed)]
        pix2pix.eval()
        made = pix2pix.translate(x[None].to(pix2pix.device)).clamp(-1, 1)[0].cpu()
        classes = torch.from_numpy(map_classes(made.numpy()))
        out["pix2pix"] = to_uint8(made[None])[0]
        out["pix2pix_classes"] = class_colours(classes)
        out["pix2pix_report"] = segmentation_report(confusion(classes, big_truth, k), MAP_CLASSES)
    return out
