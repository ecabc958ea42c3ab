"""GAN Studio's training engine: losses, one loop for every family, recipes, the CLI
(``python -m training RECIPE``), runs on disk (``runs/<id>/``) and DDP under torchrun.

Importing this package is cheap and has no side effects; nothing here imports a UI.
"""

from training.loop import RunResult, Trainer, train
from training.recipes import RECIPES, Recipe, RecipeError, apply_overrides, get_recipe
from training.runs import RunDir, read_events, read_status

__all__ = [
    "RECIPES",
    "Recipe",
    "RecipeError",
    "RunDir",
    "RunResult",
    "Trainer",
    "apply_overrides",
    "get_recipe",
    "read_events",
    "read_status",
    "train",
]
