"""Training data: the recipe's dataset and a resumable, shardable stream of batches.

The order of batches is a pure function of (seed, epoch, rank, world size), so a checkpoint only
needs the position (epoch, batch index) to continue exactly where an uninterrupted run would be.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, DistributedSampler

from studio.errors import DataError
from training.distributed import DistInfo
from training.recipes import Recipe

CACHE_ON_DEVICE_BYTES = 1 << 30  # datasets below this are copied to the GPU once


def build_dataset(recipe: Recipe) -> Dataset:
    """The recipe's dataset at the recipe's image size (studio.data resizes any input).

    Recipe fields reach the dataset's constructor only where it takes them: ``split``,
    ``channels``, ``classes`` (data_classes), ``path`` (data_path) and ``n`` (data_count).
    """
    import inspect

    from studio.data import DATASETS, get_dataset

    if recipe.dataset not in DATASETS:
        raise DataError(f"unknown dataset {recipe.dataset!r}: choose one of {', '.join(DATASETS)}")
    accepted = inspect.signature(DATASETS[recipe.dataset]).parameters
    offered = {
        "image_size": recipe.image_size,
        "split": recipe.data_split,
        "channels": recipe.channels,
        "classes": [c.strip() for c in recipe.data_classes.split(",") if c.strip()] or None,
        "path": recipe.data_path or None,
        "n": recipe.data_count or None,
    }
    kwargs = {key: value for key, value in offered.items() if key in accepted and value is not None}
    if recipe.data_path and "path" not in accepted:
        raise DataError(f"dataset {recipe.dataset!r} takes no data_path")
    if recipe.data_count and "n" not in accepted:
        raise DataError(f"dataset {recipe.dataset!r} has a fixed size: it takes no data_count")
    return get_dataset(recipe.dataset, **kwargs)


class DataStream:
    """Shuffled batches in a reproducible order: epoch e is a permutation seeded by (seed, e), as
    ``DistributedSampler`` draws it, sharded over ranks; incomplete batches are dropped. The
    position (epoch, batch index) is saved with each checkpoint."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, info: DistInfo, device: torch.device, channels_last: bool):
        self.dataset, self.batch_size, self.device = dataset, batch_size, device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed, drop_last=True)
        self.batches_per_epoch = self.sampler.num_samples // batch_size
        if self.batches_per_epoch < 1:
            raise DataError(
                f"{getattr(dataset, 'name', 'the dataset')} has {len(dataset)} images, fewer than one batch of "
                f"{batch_size} per process: lower batch_size"
            )
        # In-memory studio datasets: index their tensors directly instead of collating items.
        self.tensors: list[torch.Tensor] | None = None
        images, targets = getattr(dataset, "images", None), getattr(dataset, "targets", None)
        if isinstance(images, torch.Tensor) and isinstance(targets, torch.Tensor):
            self.tensors = [images, targets]
            if device.type == "cuda" and images.numel() * images.element_size() < CACHE_ON_DEVICE_BYTES:
                self.tensors = [t.to(device) for t in self.tensors]
        self.epoch, self.index = 0, 0
        self._order: torch.Tensor | None = None
        self.consumed = 0  # batches handed out by this process (for images/s)

    @property
    def position(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def seek(self, epoch: int, index: int) -> None:
        self.epoch, self.index, self._order = epoch, index, None

    def _fetch(self, indices: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.tensors is not None:
            indices = indices.to(self.tensors[0].device)
            fields = [t[indices] for t in self.tensors]
        else:
            items = [self.dataset[int(i)] for i in indices]
            items = [item if isinstance(item, (tuple, list)) else (item,) for item in items]
            fields = [torch.stack([torch.as_tensor(x) for x in column]) for column in zip(*items)]
        out = []
        for tensor in fields:
            tensor = tensor.to(self.device, non_blocking=True)
            if tensor.dim() == 4:
                tensor = tensor.contiguous(memory_format=self.memory_format)  # (B, C, H, W)
            out.append(tensor)
        return tuple(out)

    def next(self) -> tuple[torch.Tensor, ...]:
        if self.index >= self.batches_per_epoch:
            self.epoch, self.index, self._order = self.epoch + 1, 0, None
        if self._order is None:
            self.sampler.set_epoch(self.epoch)
            if hasattr(self.dataset, "set_epoch"):  # unpaired sets re-pair their domains each epoch
                self.dataset.set_epoch(self.epoch)
            self._order = torch.tensor(list(iter(self.sampler)), dtype=torch.long)
        start = self.index * self.batch_size
        batch = self._fetch(self._order[start : start + self.batch_size])
        self.index += 1
        self.consumed += 1
        return batch
