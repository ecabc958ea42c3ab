"""Multi-process training under ``torchrun`` with DistributedDataParallel.

``torchrun --nproc_per_node=N -m training RECIPE ...`` starts N copies of the CLI; each reads
RANK / WORLD_SIZE / LOCAL_RANK from the environment, joins a process group (gloo on CPU, nccl on
GPU) and trains on its shard of every epoch (``DistributedSampler``). Only rank 0 writes the run
directory. Without those variables everything here is a no-op and one process trains alone.

How the families meet DDP: a family's forward paths are methods (``generate``, ``discriminate``,
``translate``) that call its child modules (``generator``, ``discriminator``, ...). DDP
synchronises gradients of the module whose ``forward`` it wraps, so each trainable child is
wrapped on its own and a shallow copy of the model holds the wrappers (``training_view``); the
original model keeps the plain children for checkpoints and samples. Both share parameters.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """The torchrun environment (rank 0 of 1 when not launched by torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device_request: str | None) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun; pick this process's device."""
    info = env_info()
    want_cuda = device_request == "cuda" or (device_request is None and torch.cuda.is_available())
    if want_cuda and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but CUDA is not available")
    device = torch.device("cuda", info.local_rank) if want_cuda else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info, device


def teardown() -> None:
    """Leave the process group together: a rank that tore gloo down while another still wrote its
    checkpoint sometimes aborted ("terminate called without an active exception")."""
    if dist.is_available() and dist.is_initialized():
        with contextlib.suppress(RuntimeError):  # a rank that failed never arrives: leave anyway
            if dist.get_backend() == "gloo":
                dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
            else:
                dist.barrier()
        dist.destroy_process_group()


def training_view(model: nn.Module, info: DistInfo, device: torch.device) -> tuple[nn.Module, dict[str, DistributedDataParallel]]:
    """(model to train through, {child name: DDP wrapper}); the model itself when not distributed."""
    if not info.enabled:
        return model, {}
    view = copy.copy(model)  # shares parameters and buffers; only the child table differs
    view._modules = dict(model._modules)
    wrappers = {}
    for name, child in model.named_children():
        if any(p.requires_grad for p in child.parameters()):
            ids = [device.index] if device.type == "cuda" else None
            # buffers (BatchNorm running stats) follow rank 0 at each forward: DDP's default
            wrappers[name] = DistributedDataParallel(child, device_ids=ids)
            view._modules[name] = wrappers[name]
    return view, wrappers


@contextlib.contextmanager
def frozen(parameters: list[nn.Parameter], wrappers: list[DistributedDataParallel]):
    """No weight gradients for ``parameters`` (the G step's pass through D): saves their
    backward work; under DDP ``no_sync`` keeps the reducer from waiting for them."""
    previous = [p.requires_grad for p in parameters]
    for p in parameters:
        p.requires_grad_(False)
    with contextlib.ExitStack() as stack:
        for wrapper in wrappers:
            stack.enter_context(wrapper.no_sync())
        try:
            yield
        finally:
            for p, flag in zip(parameters, previous):
                p.requires_grad_(flag)


def average_metrics(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean over ranks of a 1-D float tensor (NaN anywhere -> NaN, so every rank stops together)."""
    if not info.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world_size


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any (a stop request seen by rank 0 only)."""
    if not info.enabled:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


def gather_tensor(tensor: torch.Tensor, info: DistInfo) -> list[torch.Tensor]:
    """Every rank's copy of a same-shaped tensor (RNG states for the checkpoint)."""
    if not info.enabled:
        return [tensor]
    parts = [torch.empty_like(tensor) for _ in range(info.world_size)]
    dist.all_gather(parts, tensor)
    return parts


def broadcast_flag_tensor(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.broadcast(tensor, src=0)
    return tensor


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
