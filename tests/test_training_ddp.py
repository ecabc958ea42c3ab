"""Two CPU processes under torchrun (gloo): DistributedDataParallel, rank 0 writes, the checkpoint loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from studio.checkpoints import load
from support import free_port
from training import read_events, read_status
from training.runs import load_training_state

ROOT = Path(__file__).resolve().parents[1]


def test_two_process_ddp_on_cpu_writes_a_loadable_checkpoint(tmp_path):
    settings = {"model.width": 4, "model.disc_width": 4, "model.latent_dim": 8, "batch_size": 8,
                "checkpoint_every": 2, "sample_every": 2, "sample_count": 16}
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
