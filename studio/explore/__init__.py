"""Exploring a trained generator: what the latent pages compute, as numpy images and numbers.

    latent.py          the maths: lerp, slerp, paths through key points, truncated normals, w truncation
    sampling.py        which models have a z to explore, one z per seed, images for a batch of latents
    interpolation.py   candidate seeds and latent walks (the latent interpolation page)
    truncation.py      the truncation trick and its diversity trade-off (the truncation page)
    editing.py         classifier-guided feature editing: gradient and InterFaceGAN directions (its own
                       import: ``from studio.explore import editing``; it needs scikit-learn)
    mixing.py          StyleGAN: the style-mixing matrix, truncation in W, stochastic variation, recipes

Images are drawn through
``studio.accel.generate_fast``, the display path. Both UIs call these functions.
"""

from studio.explore import mixing
from studio.explore.interpolation import METHODS, SPACES, Walk, candidates, walk
from studio.explore.sampling import (Z_SPACE_TASKS, class_names, latent_page_problem, samples, seed_latents,
                                     set_interactive_threads)
from studio.explore.truncation import SWEEP_THRESHOLDS, SweepColumn, mean_pairwise_distance, truncated, truncation_sweep

__all__ = [
    "METHODS", "SPACES", "SWEEP_THRESHOLDS", "Z_SPACE_TASKS", "SweepColumn", "Walk", "candidates", "class_names",
    "latent_page_problem", "mean_pairwise_distance", "mixing", "samples", "seed_latents", "set_interactive_threads",
    "truncated", "truncation_sweep", "walk",
]
