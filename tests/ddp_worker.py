"""Run by tests/test_training_ddp.py under torchrun: a few engine steps of a recipe with DDP, then
each rank saves the weights it holds to OUT/rank<R>.safetensors.

    torchrun --nproc_per_node=2 tests/ddp_worker.py RECIPE.json OUT STEPS
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from training import distributed as D
from training.loop import Trainer
from training.recipes import recipe_from_dict


def main(recipe_file: str, out: str, steps: str) -> None:
    info, device = D.setup("cpu")
    torch.set_num_threads(1)  # two ranks on a small machine
    recipe = recipe_from_dict(json.loads(Path(recipe_file).read_text()))
    trainer = Trainer(recipe, run=None, device=device, info=info)
    for _ in range(int(steps)):
        trainer.train_step()
    weights = {name: tensor.detach().contiguous() for name, tensor in trainer.model.state_dict().items()}
    save_file(weights, Path(out) / f"rank{info.rank}.safetensors")
    D.teardown()


if __name__ == "__main__":
    main(*sys.argv[1:])
