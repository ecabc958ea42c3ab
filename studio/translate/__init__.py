"""Image-to-image translation for the UIs: any image in, the model's translation out.

    fitting.py   what a model offers (directions, domains), reading uploads, fitting any image to the
                 generator (channels, sizes, padding) with a note for every change, and translating
    samples.py   ready-made inputs (map tiles, horse and zebra silhouettes), map-class accuracy

The generators run through ``studio.accel.translate_fast``, the display path.
"""

from studio.translate.fitting import (CYCLEGAN_SCALE_RANGE, DIRECTIONS, FAMILIES, MAX_UPLOAD_BYTES, PIX2PIX_MAX_AREA,
                                      dataset_kind, direction_label, directions, domains, fit_to_model, io_channels,
                                      read_image, translate_image, translate_tensor, translation_problem)
from studio.translate.samples import Sample, per_pixel_map_accuracy, sample_inputs

__all__ = [
    "CYCLEGAN_SCALE_RANGE", "DIRECTIONS", "FAMILIES", "MAX_UPLOAD_BYTES", "PIX2PIX_MAX_AREA", "Sample",
    "dataset_kind", "direction_label", "directions", "domains", "fit_to_model", "io_channels",
    "per_pixel_map_accuracy", "read_image", "sample_inputs", "translate_image", "translate_tensor",
    "translation_problem",
]
