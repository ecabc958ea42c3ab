"""Two CPU processes under torchrun (gloo): DistributedDataParallel, rank 0 writes, the checkpoint loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from studio.checkpoints import load
from support import free_port
from training import apply_overrides, get_recipe, read_events, read_status
from training.data import DataStream
from training.distributed import DistInfo
from training.loop import Trainer
from training.runs import load_training_state

ROOT = Path(__file__).resolve().parents[1]


def test_two_process_ddp_on_cpu_writes_a_loadable_checkpoint(tmp_path):
    settings = {"model.width": 4, "model.disc_width": 4, "model.latent_dim": 8, "batch_size": 8,
                "checkpoint_every": 2, "sample_every": 2, "sample_count": 16, "g_ema": 0.9}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
               "-m", "training", "mnist-cgan", "--steps", "4", "--out", str(tmp_path), "--run-id", "ddp",
               "--device", "cpu", "--no-progress"]
    for key, value in settings.items():
        command += ["--set", f"{key}={value}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("finished mnist-cgan") == 1  # only rank 0 reports

    run = tmp_path / "ddp"
    assert sorted(os.listdir(tmp_path)) == ["ddp"]  # rank 1 wrote nothing of its own
    status = read_status(run)
    assert status["status"] == "finished" and status["world_size"] == 2
    steps = [e["step"] for e in read_events(run) if "event" not in e]
    assert steps == [1, 2, 3, 4]  # one line per step, not one per rank
    # 2 ranks x 8 images per step, at most: images/s counts the whole group
    assert all(e["images_per_s"] > 0 for e in read_events(run) if "event" not in e)

    loaded = load(run)
    assert loaded.meta["step"] == 4 and loaded.model.family == "cgan"
    images = loaded.model.sample(4, seed=0, labels=torch.tensor([0, 1, 2, 3]))
    assert images.shape == (4, 1, 32, 32) and torch.isfinite(images).all()  # the recipe trains at 32
    tensors, meta = load_training_state(run / "checkpoints" / "step-00000004")
    assert meta["world_size"] == 2 and {"rng.rank0.torch", "rng.rank1.torch"} <= set(tensors)
    assert not torch.equal(tensors["rng.rank0.torch"], tensors["rng.rank1.torch"])  # ranks draw different noise
    # g_ema: the checkpoint's G is the average, the live G rides along in the training state
    live = {key[len("g_live."):]: value for key, value in tensors.items() if key.startswith("g_live.")}
    assert live and all(key.startswith("generator.") for key in live)
    assert any(not torch.equal(loaded.model.state_dict()[key], value) for key, value in live.items())


def test_ddp_ranks_average_gradients_like_one_process_on_the_combined_batches(tmp_path):
    """Two ranks (gloo) hold identical weights after a few steps, equal to one process trained on
    each step's two shards side by side. CycleGAN: instance norm and an image pool that is not yet
    full draw nothing per rank, so one process on the combined batch computes the mean gradient DDP
    averages (a BatchNorm family would normalise each rank's half on its own)."""
    settings = {"model.ngf": 4, "model.ndf": 4, "model.n_blocks": 1, "batch_size": 4, "sample_every": 0}
    recipe = apply_overrides(get_recipe("horse2zebra-cyclegan"), [f"{k}={v}" for k, v in settings.items()])
    steps = 3
    assert 2 * recipe.batch_size * steps < recipe.pool_size  # the pool hands every fake straight back
    (tmp_path / "recipe.json").write_text(json.dumps(recipe.to_dict()))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
               str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path / "recipe.json"), str(tmp_path), str(steps)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1))

    single = Trainer(recipe, run=None, device=torch.device("cpu"))  # seeded as rank 0, whose weights DDP broadcasts
    shards = [DataStream(single.dataset, recipe.batch_size, recipe.seed, DistInfo(rank, 2), torch.device("cpu"),
                         recipe.channels_last) for rank in (0, 1)]
    single.ctx.next_batch = lambda: tuple(torch.cat(parts) for parts in zip(*(s.next() for s in shards)))
    largest_gradient: dict[str, float] = {}
    for _ in range(steps):
        single.train_step()
        for name, parameter in single.model.named_parameters():
            largest_gradient[name] = max(largest_gradient.get(name, 0.0), parameter.grad.abs().max().item())
    alone = single.model.state_dict()
    # A conv bias just before an InstanceNorm is subtracted again: its gradient is zero but for
    # rounding, which Adam scales up to steps of +-lr. Those are compared between ranks only.
    rounding_only = {name for name, largest in largest_gradient.items() if largest < 1e-4}
    assert rounding_only and all(name.endswith(".bias") for name in rounding_only)

    assert rank0.keys() == rank1.keys() == alone.keys()
    initial = Trainer(recipe, run=None, device=torch.device("cpu")).model.state_dict()
    assert max((alone[k] - initial[k]).abs().max().item() for k in alone) > 1e-4  # far above the tolerance below
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f"{key} differs between ranks"
        if key not in rounding_only:
            assert torch.allclose(rank0[key], alone[key], rtol=1e-4, atol=1e-6), \
                f"{key}: DDP {rank0[key].flatten()[:4]} vs one process {alone[key].flatten()[:4]}"


def test_stylegan_under_torchrun_is_refused_with_the_reason(tmp_path):
    """Progressive growing and R1's autograd.grad do not fit DDP: a clear error, not a crash mid-step."""
    import pytest

    from training.recipes import RecipeError

    recipe = apply_overrides(get_recipe("mnist-stylegan"), ["image_size=16", "data_split=test"])
    with pytest.raises(RecipeError, match="stylegan trains in one process, not under torchrun"):
        Trainer(recipe, run=None, device=torch.device("cpu"), info=DistInfo(rank=0, world_size=2))
    Trainer(recipe, run=None, device=torch.device("cpu"), info=DistInfo(rank=0, world_size=1))  # one process: fine
