"""One training loop for every family: data order, the family's step, events, samples,
checkpoints, resume, NaN and stop handling. It reports through callbacks and never imports a UI.

    from training import train, get_recipe
    result = train(get_recipe("mnist-dcgan"), out="runs", on_event=print)

Step numbering: step S is the S-th generator (or classifier) update, counted from 1; a checkpoint
named step-S holds the state after S updates, and a resumed run continues with update S + 1.
Every rank draws the same batches, noise and codes as an uninterrupted run would: the torch,
numpy and Python RNG states, the optimizer moments and the data position (epoch, batch index)
are all part of the checkpoint, so ``2N steps == N steps + resume + N steps`` exactly on CPU.

Under torchrun every rank runs this loop on its shard; only rank 0 has a RunDir. Losses in the
event log are averaged over ranks (one all-reduce per step that also carries the stop flag).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from training import distributed as D
from training.data import DataStream, build_dataset
from training.losses import LOSSES
from training.recipes import Recipe, RecipeError, validate
from training.runs import (
    RunDir,
    capture_rng,
    flatten_optimizer,
    load_training_state,
    new_run_id,
    restore_rng,
    save_training_state,
    unflatten_optimizer,
)
from training.steps import STEPS, StepContext, optimizer_groups

EventFn = Callable[[dict], None]
StopFn = Callable[[], bool]


@dataclass
class RunResult:
    status: str  # finished | stopped | failed
    step: int
    message: str
    run_dir: Path | None
    checkpoint: Path | None
    metrics: dict = field(default_factory=dict)  # the last step's event
    elapsed: float = 0.0
    images_per_s: float = 0.0


class NonFiniteLoss(RuntimeError):
    pass


# ----------------------------------------------------------------------------- model


def build_model(recipe: Recipe, dataset: Dataset) -> nn.Module:
    """The family's model from the recipe; image_size, channels and num_classes default to the data's."""
    import inspect

    from studio.models import FAMILIES

    if recipe.family not in FAMILIES or recipe.family not in STEPS:
        raise RecipeError(f"family {recipe.family!r} cannot be trained; trainable: {', '.join(f for f in STEPS if f in FAMILIES)}")
    cls = FAMILIES[recipe.family]
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = dict(recipe.model)
    defaults = {"image_size": recipe.image_size, "channels": recipe.channels}
    classes = getattr(dataset, "classes", None)
    if classes:
        defaults["num_classes"] = len(classes)
    for key, value in defaults.items():
        if key in accepted and key not in kwargs:
            kwargs[key] = value
    unknown = set(kwargs) - set(accepted)
    if unknown:
        raise RecipeError(f"{recipe.family} takes no model option {', '.join(sorted(unknown))}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise RecipeError(f"cannot build {recipe.family} with {kwargs}: {error}") from error


def make_optimizer(recipe: Recipe, params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    if recipe.optimizer == "rmsprop":  # the original WGAN (Arjovsky et al. 2017) avoids momentum
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    # fused: the whole Adam update in one kernel per tensor (CPU and CUDA), ~4% of a StyleGAN step
    # here against foreach (python -m bench train --models stylegan, stop 26); foreach elsewhere
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, betas=(recipe.beta1, recipe.beta2), fused=fused, foreach=not fused)


def fixed_inputs(model: nn.Module, dataset: Dataset, count: int, seed: int) -> dict | None:
    """What the sample grid is drawn from, the same at every step and on every device:
    a fixed z (and one column per class for conditional families) for GANs, the first
    ``count`` pairs of the dataset for translation, None for classifiers."""
    if hasattr(model, "generate"):
        classes = int(getattr(model, "num_classes", 0) or 0)
        if classes:
            count = classes * max(1, round(count / classes))
        z = model.sample_latent(count, seed)
        labels = torch.arange(count, device=z.device) % classes if classes else None
        return {"z": z, "labels": labels, "nrow": classes or int(math.ceil(math.sqrt(count)))}
    if hasattr(model, "segment"):  # segmentation: images and their true classes
        count = min(count, len(dataset))
        pairs = [dataset[i] for i in range(count)]
        return {"a": torch.stack([p[0] for p in pairs]), "classes": torch.stack([p[1] for p in pairs]), "nrow": count}
    if hasattr(model, "translate"):
        count = min(count, len(dataset))
        pairs = [dataset[i] for i in range(count)]
        return {"a": torch.stack([p[0] for p in pairs]), "b": torch.stack([p[1] for p in pairs]), "nrow": count}
    return None


def draw_samples(model: nn.Module, fixed: dict, device: torch.device) -> torch.Tensor:
    """The grid's images (N, C, H, W): G(z); or rows input / output / target (pix2pix);
    or rows a / G_ab(a) / b / G_ba(b) (CycleGAN); or rows image / predicted classes / true classes (U-Net)."""
    if "z" in fixed:
        labels = None if fixed["labels"] is None else fixed["labels"].to(device)
        return model.generate(fixed["z"].to(device), labels)
    if "classes" in fixed:
        return segmentation_rows(model, fixed["a"].to(device), fixed["classes"])
    a, b = fixed["a"].to(device), fixed["b"].to(device)
    if model.family == "cyclegan":
        return torch.cat([a, model.translate(a, "a2b"), b, model.translate(b, "b2a")])
    return torch.cat([a, model.translate(a), b])


def segmentation_rows(model: nn.Module, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Images, the model's classes and the true classes, both drawn in the map palette, in [-1, 1]."""
    from studio.data.maps import class_colours

    def draw(ids: torch.Tensor) -> torch.Tensor:
        tiles = np.stack([class_colours(k) for k in ids.cpu()])  # (B, H, W, 3) uint8
        return torch.from_numpy(tiles).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(images.device)

    return torch.cat([images.float(), draw(model.segment(images)), draw(classes)])


# ----------------------------------------------------------------------------- trainer


# families DistributedDataParallel cannot train as they are written, and why
ONE_PROCESS_FAMILIES = {
    "stylegan": "progressive growing leaves the other resolutions' layers without gradients, and R1's "
                "gradient through D (torch.autograd.grad) bypasses DDP's gradient hooks",
}


class Trainer:
    """Holds one run's state; ``run()`` trains until the recipe's step count, a stop or a failure."""

    def __init__(
        self,
        recipe: Recipe,
        *,
        run: RunDir | None,
        resume: bool = False,
        device: torch.device | None = None,
        info: D.DistInfo | None = None,
        on_event: EventFn | None = None,
        should_stop: StopFn | None = None,
        dataset: Dataset | None = None,
    ):
        validate(recipe)
        self.recipe, self.run, self.resume = recipe, run, resume
        self.info = info or D.DistInfo()
        if self.info.enabled and recipe.family in ONE_PROCESS_FAMILIES:
            raise RecipeError(f"{recipe.family} trains in one process, not under torchrun: "
                              f"{ONE_PROCESS_FAMILIES[recipe.family]}. Run python -m training {recipe.name} without torchrun")
        self.device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.on_event, self.should_stop = on_event, should_stop
        if recipe.threads:
            torch.set_num_threads(recipe.threads)
        self._seed_everything(recipe.seed + self.info.rank)

        self.dataset = dataset if dataset is not None else build_dataset(recipe)  # benchmarks pass their own
        self.model = build_model(recipe, self.dataset).to(self.device)
        if recipe.init_from and not resume:
            self._start_from(recipe.init_from)
        self.groups = optimizer_groups(recipe.family, self.model)
        if recipe.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        elif recipe.d_channels_last:  # NHWC weights make D's convolutions run in NHWC; G's stay NCHW
            for child in self.groups["d"]:
                getattr(self.model, child).to(memory_format=torch.channels_last)
        self.model.train()
        self.view, self.wrappers = D.training_view(self.model, self.info, self.device)
        self.base_lrs = {"g": recipe.lr_g, "d": recipe.lr_d, "model": recipe.lr}  # per optimizer, before any decay
        self.optimizers = {
            name: make_optimizer(recipe, [p for child in children for p in getattr(self.model, child).parameters()],
                                 self.base_lrs[name])
            for name, children in self.groups.items()
        }
        self.ema = self._start_ema() if recipe.g_ema > 0 else None
        self.data = DataStream(self.dataset, recipe.batch_size, recipe.seed, self.info, self.device, recipe.channels_last)
        self.step = 0
        self.ctx = StepContext(
            model=self.view,
            recipe=recipe,
            loss=LOSSES[recipe.loss],
            optimizers=self.optimizers,
            groups=self.groups,
            next_batch=self._next_batch,
            device=self.device,
            wrappers=self.wrappers,
        )
        self.step_fn = STEPS[recipe.family]
        self.last_grid: np.ndarray | None = None
        self.last_grid_step = -1
        self.last_event: dict = {}
        self.last_checkpoint: tuple[int, Path] | None = None
        self.holdout = None
        if recipe.family == "classifier" and recipe.data_split == "train" and self.info.is_main:
            self.holdout = build_dataset(_replace(recipe, data_split="test"))
        self.fixed = fixed_inputs(self.model, self.dataset, recipe.sample_count, recipe.seed + 12345) if recipe.sample_every else None

    def _start_from(self, source: str) -> None:
        """The weights of checkpoint ``source`` (init_from), which must be of the same family and shape."""
        from studio.checkpoints import load

        loaded = load(source)  # CheckpointError for a missing or unreadable one
        if getattr(loaded.model, "family", "") != self.recipe.family:
            raise RecipeError(f"init_from {source} is a {getattr(loaded.model, 'family', '?')} checkpoint; "
                              f"this recipe trains {self.recipe.family}")
        try:
            self.model.load_state_dict(loaded.model.state_dict())
        except RuntimeError as error:
            first = str(error).strip().splitlines()[1:2] or [str(error)]
            raise RecipeError(f"init_from {source} does not fit the recipe's model: {first[0].strip()}") from None

    # ------------------------------------------------------------------ EMA of G

    def _generator_tensors(self) -> dict[str, torch.Tensor]:
        """G's floating-point weights and buffers (BatchNorm statistics), sharing the model's memory."""
        return {f"{child}.{key}": value for child in self.groups["g"]
                for key, value in getattr(self.model, child).state_dict().items() if value.is_floating_point()}

    def _start_ema(self) -> dict[str, torch.Tensor]:
        if "g" not in self.groups:
            raise RecipeError(f"g_ema averages a generator's weights; {self.recipe.family} has no generator")
        return {key: value.detach().clone() for key, value in self._generator_tensors().items()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema = d * ema + (1 - d) * G, with d = min(g_ema, (1 + step) / (10 + step))."""
        decay = min(self.recipe.g_ema, (1 + self.step) / (10 + self.step))
        live = self._generator_tensors()
        torch._foreach_lerp_(list(self.ema.values()), [live[key] for key in self.ema], 1.0 - decay)

    @contextlib.contextmanager
    def averaged_generator(self):
        """The model with G's EMA weights in place of the live ones (what checkpoints hold and samples
        show); the live weights come back bit for bit afterwards. A no-op without g_ema."""
        if self.ema is None:
            yield self.model
            return
        live = self._generator_tensors()
        kept = {key: value.clone() for key, value in live.items()}
        with torch.no_grad():
            for key, value in self.ema.items():
                live[key].copy_(value)
        try:
            yield self.model
        finally:
            with torch.no_grad():
                for key, value in kept.items():
                    live[key].copy_(value)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _seed_everything(seed: int) -> None:
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)

    def _next_batch(self) -> tuple[torch.Tensor, ...]:
        batch = self.data.next()
        if self.recipe.inject_nan_at and self.step == self.recipe.inject_nan_at:
            batch = (batch[0] * float("nan"), *batch[1:])  # test hook: a real NaN through the whole step
        return batch

    def emit(self, event: dict) -> None:
        if not self.info.is_main:
            return
        if self.run is not None:
            self.run.append_event(event)
        if self.on_event is not None:
            self.on_event(event)

    def _memory_mb(self) -> dict:
        if self.device.type == "cuda":
            return {
                "memory_mb": torch.cuda.memory_allocated(self.device) / 2**20,
                "memory_reserved_mb": torch.cuda.memory_reserved(self.device) / 2**20,
            }
        import psutil

        if not hasattr(self, "_process"):
            self._process = psutil.Process()
        return {"memory_mb": self._process.memory_info().rss / 2**20}

    def _set_learning_rates(self) -> None:
        """Linear decay to 0 over the run's last ``lr_decay`` fraction (pix2pix's schedule); a
        function of the step alone, so a resumed run follows the same rates."""
        r = self.recipe
        if r.lr_decay <= 0:
            return
        start = r.steps * (1 - r.lr_decay)
        factor = 1.0 if self.step <= start else max(0.0, (r.steps - self.step + 1) / (r.steps - start + 1))
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = self.base_lrs[name] * factor

    def _learning_rates(self) -> dict:
        return {f"lr_{name}" if name != "model" else "lr": opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()}

    # ------------------------------------------------------------------ samples and evaluation

    @torch.no_grad()
    def sample_grid(self) -> np.ndarray | None:
        if self.fixed is None:
            return None
        from studio.imaging import grid
        from studio.models.base import evaluating

        # BatchNorm uses running statistics, and G its EMA weights: what a loaded checkpoint will draw
        with self.averaged_generator(), evaluating(self.model):
            images = draw_samples(self.model, self.fixed, self.device)
        return grid(images.float().cpu(), nrow=self.fixed["nrow"])

    @torch.no_grad()
    def holdout_accuracy(self) -> float | None:
        if self.holdout is None:
            return None
        from studio.models.base import evaluating

        correct = 0
        with evaluating(self.model):
            images, targets = self.holdout.images, self.holdout.targets
            for start in range(0, len(targets), 500):
                x = images[start : start + 500].to(self.device)
                correct += int((self.model(x).argmax(1).cpu() == targets[start : start + 500]).sum())
        return correct / len(targets)

    # ------------------------------------------------------------------ checkpoints

    def training_state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Optimizers, every rank's RNG state, data position and step (collective under torchrun)."""
        tensors, rng_meta = capture_rng()
        own = tensors.pop("rng.torch")  # saved once per rank below
        per_rank = D.gather_tensor(own.to(self.device), self.info)  # nccl gathers on the GPU
        for rank, state in enumerate(per_rank):
            tensors[f"rng.rank{rank}.torch"] = state.cpu()
        meta = {
            "step": self.step,
            "recipe": self.recipe.name,
            "family": self.recipe.family,
            "world_size": self.info.world_size,
            "data": self.data.position,
            "rng": rng_meta,
            "optimizers": {},
        }
        for name, optimizer in self.optimizers.items():
            opt_tensors, opt_meta = flatten_optimizer(name, optimizer.state_dict())
            tensors.update(opt_tensors)
            meta["optimizers"][name] = opt_meta
        if self.ema is not None:  # the checkpoint's model holds the EMA; training goes on from the live G
            for key, value in self._generator_tensors().items():
                tensors[f"g_live.{key}"] = value.detach().cpu().contiguous()
        pools = self.ctx.state.get("pools")
        if pools:  # CycleGAN's history of fakes is part of what D sees next
            meta["pools"] = {}
            for key, pool in pools.items():
                for index, image in enumerate(pool.images):
                    tensors[f"pool.{key}.{index}"] = image.detach().cpu().contiguous()
                version, internal, gauss = pool._rng.getstate()
                meta["pools"][key] = {"count": len(pool.images), "rng": [version, list(internal), gauss]}
        return tensors, meta

    def metadata(self) -> dict:
        metrics = {key: value for key, value in self.last_event.items() if isinstance(value, (int, float)) and key not in ("time",)}
        accuracy = self.holdout_accuracy()
        if accuracy is not None:
            metrics["heldout_accuracy"] = accuracy
        classes = getattr(self.dataset, "classes", None)
        meta = {
            "title": f"{self.recipe.name} (step {self.step})",
            "image_size": self.recipe.image_size,
            "channels": self.recipe.channels,
            "dataset": getattr(self.dataset, "name", self.recipe.dataset),
            "recipe": self.recipe.name,
            "metrics": metrics,
            "description": self.recipe.description,
        }
        if classes and getattr(self.model, "num_classes", 0):
            meta["class_names"] = list(classes)
        return meta

    def save_checkpoint(self) -> None:
        tensors, meta = self.training_state()  # every rank takes part
        if not self.info.is_main or self.run is None:
            return
        from studio.checkpoints import save

        metadata = self.metadata()
        if self.fixed is not None and self.last_grid_step != self.step:  # samples.png shows these weights
            self.last_grid, self.last_grid_step = self.sample_grid(), self.step

        def write(directory: Path) -> None:
            with self.averaged_generator() as model:
                save(model, directory, metadata=metadata, samples=self.last_grid)
            save_training_state(directory, tensors, meta)

        self._write_quality()  # before the checkpoint appears, so the tab never has to judge it itself
        path = self.run.save_checkpoint(self.step, write, self.recipe.keep_checkpoints)
        self.last_checkpoint = (self.step, path)
        event = {"event": "checkpoint", "step": self.step, "time": time.time(), "path": str(path.relative_to(self.run.path))}
        if "heldout_accuracy" in metadata["metrics"]:
            event["heldout_accuracy"] = metadata["metrics"]["heldout_accuracy"]
        self.emit(event)
        self.run.write_status(step=self.step, checkpoint=event["path"])

    def _write_quality(self) -> None:
        """The training tab's verdict on the checkpoint about to be written (training/sample_quality.py), for
        recipes that measure sample quality during training (fid_every); the run's RNG is untouched."""
        if not self.recipe.fid_every or not hasattr(self.model, "latent_dim"):
            return
        from training.sample_quality import quality_classifier, quality_event

        if not hasattr(self, "_quality_judge"):
            with torch.random.fork_rng(devices=[]):  # building the classifier draws initial weights
                self._quality_judge = quality_classifier(self.recipe.dataset, self.recipe.channels)
        with self.averaged_generator() as model:
            self.emit(quality_event(model, self.step, self._quality_judge))

    def restore(self, directory: Path) -> None:
        """Weights, optimizers, RNGs, data position and step from a run checkpoint."""
        from studio.checkpoints import load

        loaded = load(directory, device=self.device)
        self.model.load_state_dict(loaded.model.state_dict())
        tensors, meta = load_training_state(directory)
        if self.ema is not None:  # the saved model is the EMA; the live G is in the training state
            self.ema = self._start_ema()
            with torch.no_grad():
                for key, value in self._generator_tensors().items():
                    if f"g_live.{key}" in tensors:
                        value.copy_(tensors[f"g_live.{key}"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(unflatten_optimizer(name, tensors, meta["optimizers"][name]))
            for group in optimizer.param_groups:  # moments in the parameter's memory format
                for p in group["params"]:
                    for key, value in optimizer.state.get(p, {}).items():
                        if isinstance(value, torch.Tensor) and value.shape == p.shape and value.dim() == 4:
                            optimizer.state[p][key] = torch.empty_like(p).copy_(value)
        own = f"rng.rank{self.info.rank}.torch"
        if meta.get("world_size") == self.info.world_size and own in tensors:
            tensors["rng.torch"] = tensors[own]
            restore_rng(tensors, meta["rng"])
        else:  # another process count: a fresh but reproducible stream per rank
            self._seed_everything(self.recipe.seed + 1000 * meta["step"] + self.info.rank)
        self.data.seek(**meta["data"])
        self.step = int(meta["step"])
        if "pools" in meta:
            from studio.models.cyclegan import ImagePool

            pools = {}
            for key, saved in meta["pools"].items():
                pool = ImagePool(self.recipe.pool_size)
                pool.images = [tensors[f"pool.{key}.{i}"].to(self.device) for i in range(saved["count"])]
                version, internal, gauss = saved["rng"]
                pool._rng.setstate((version, tuple(internal), gauss))
                pools[key] = pool
            self.ctx.state["pools"] = pools

    # ------------------------------------------------------------------ the loop

    def _stop_requested(self) -> bool:
        flag = bool(self.should_stop and self.should_stop())
        if self.run is not None and self.run.stop_requested():
            flag = True
        return D.any_rank(flag, self.info, self.device)

    def _metric_event(self, metrics: dict[str, torch.Tensor], seconds: float, batches: int) -> dict:
        names = list(metrics)
        values = torch.stack([metrics[name].detach().float().reshape(()).to(self.device) for name in names])
        values = D.average_metrics(values, self.info).tolist()  # one sync per step
        event: dict = {"step": self.step, "time": time.time(), "epoch": self.data.epoch}
        bad = [name for name, value in zip(names, values) if not math.isfinite(value)]
        event.update({name: (value if math.isfinite(value) else None) for name, value in zip(names, values)})
        event.update(self._learning_rates())
        images = batches * self.recipe.batch_size * self.info.world_size
        event["images_per_s"] = images / seconds if seconds > 0 else 0.0
        event.update(self._memory_mb())
        if bad:
            raise NonFiniteLoss(
                f"{', '.join(bad)} became {'/'.join(sorted({str(values[names.index(b)]) for b in bad}))} at step {self.step}: "
                "training diverged (try a lower learning rate, another loss or fewer tricks)"
            )
        return event

    def train_step(self) -> dict:
        """One update of the family's step, logged: returns the event (raises NonFiniteLoss)."""
        self.step += 1
        self.ctx.step = self.step
        self._set_learning_rates()
        before, tick = self.data.consumed, time.perf_counter()
        metrics = self.step_fn(self.ctx)
        event = self._metric_event(metrics, time.perf_counter() - tick, self.data.consumed - before)
        if self.ema is not None:  # after the finiteness check: a diverged G never enters the average
            self._update_ema()
        return event

    def run_loop(self) -> RunResult:
        recipe = self.recipe
        start_step = self.step
        started = time.time()
        total_images = 0
        status, message = "finished", f"trained {recipe.steps} steps"
        saved_step = self.step if self.resume else -1
        try:
            while self.step < recipe.steps:
                before = self.data.consumed
                try:
                    event = self.train_step()
                except NonFiniteLoss as error:
                    status, message = "failed", str(error)
                    last = self.last_checkpoint or (self.run.latest_checkpoint() if self.run else None)
                    message += f"; kept the last good checkpoint ({last[1].name})" if last else "; no checkpoint was written"
                    self.emit({"event": "error", "step": self.step, "time": time.time(), "message": message})
                    break
                total_images += (self.data.consumed - before) * recipe.batch_size * self.info.world_size
                self.last_event = event
                self.emit(event)
                self.write_periodic()
                stop = self._stop_requested()
                if stop or (recipe.checkpoint_every and self.step % recipe.checkpoint_every == 0):
                    self.save_checkpoint()
                    saved_step = self.step
                if stop:
                    status, message = "stopped", f"stopped at step {self.step} on request"
                    break
            if status == "finished" and saved_step != self.step:
                if self.fixed is not None and (not recipe.sample_every or self.step % recipe.sample_every):
                    self._write_sample()
                self.save_checkpoint()
        except BaseException as error:  # an unexpected crash: say so in the run, then re-raise
            if self.info.is_main and self.run is not None:
                text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                self.emit({"event": "error", "step": self.step, "time": time.time(), "message": text})
                self.run.write_status(status="failed", step=self.step, message=text, pid=None)
            raise
        elapsed = time.time() - started
        rate = total_images / elapsed if elapsed > 0 else 0.0
        if status == "stopped" and self.run is not None:
            self.run.clear_stop()
        final = {"event": status if status != "failed" else "failed", "step": self.step, "time": time.time(),
                 "message": message, "elapsed": elapsed, "images_per_s": rate, "steps_run": self.step - start_step}
        if status != "failed":
            self.emit(final)
        if self.info.is_main and self.run is not None:
            self.run.write_status(status=status, step=self.step, message=message, pid=None)
            self.run.close()
        checkpoint = self.last_checkpoint[1] if self.last_checkpoint else None
        if checkpoint is None and self.run is not None and self.info.is_main:
            latest = self.run.latest_checkpoint()
            checkpoint = latest[1] if latest else None
        return RunResult(status, self.step, message, self.run.path if self.run else None, checkpoint, self.last_event, elapsed, rate)

    def write_periodic(self) -> None:
        """After a step: the recipe's sample grid (every sample_every steps) and FID event (every fid_every)."""
        recipe = self.recipe
        if self.fixed is not None and recipe.sample_every and self.step % recipe.sample_every == 0:
            self._write_sample()
        if recipe.fid_every and self.step % recipe.fid_every == 0:
            self._write_fid()

    def _write_fid(self) -> None:
        """A cheap FID/KID event (training/sample_quality.py); after the first failure, none again."""
        if not self.info.is_main or getattr(self, "_fid_failed", False) or not hasattr(self.model, "latent_dim"):
            return
        from training.sample_quality import fid_event

        with self.averaged_generator() as model:  # the G a checkpoint of this step holds (g_ema)
            event = fid_event(model, self.recipe.dataset, self.step, self.recipe.fid_samples)
        self._fid_failed = "error" in event
        self.emit(event)

    def _write_sample(self) -> None:
        self.last_grid, self.last_grid_step = self.sample_grid(), self.step
        if self.last_grid is None or not self.info.is_main or self.run is None:
            return
        from studio.imaging import png_bytes

        path = self.run.save_sample(self.step, png_bytes(self.last_grid))
        self.emit({"event": "sample", "step": self.step, "time": time.time(), "path": str(path.relative_to(self.run.path))})


def _replace(recipe: Recipe, **changes) -> Recipe:
    import dataclasses

    return dataclasses.replace(recipe, **changes)


# ----------------------------------------------------------------------------- entry point


def train(
    recipe: Recipe,
    *,
    out: str | Path = "runs",
    run_id: str | None = None,
    resume: str | Path | None = None,
    device: torch.device | str | None = None,
    info: D.DistInfo | None = None,
    on_event: EventFn | None = None,
    should_stop: StopFn | None = None,
) -> RunResult:
    """Train ``recipe`` into ``out/<run_id>`` (or continue the run directory ``resume``).

    ``on_event(event)`` sees every event line; ``should_stop()`` is polled once per step (a STOP
    file in the run directory always works too). Raises RecipeError / DataError for bad input,
    after recording the failure in the run directory (the training tab reads only that).
    """
    info = info or D.env_info()
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    run: RunDir | None = None
    if info.is_main:
        if resume is not None:
            run = RunDir.open(resume)
            run.remove_stale_temporaries()
            run.clear_stop()
        else:
            run = RunDir.create(Path(out) / (run_id or new_run_id(recipe.name)))
        fields = {"id": run.path.name, "recipe": recipe.name, "config": recipe.to_dict(), "status": "running",
                  "pid": os.getpid(), "step": run.status.get("step", 0), "message": "", "world_size": info.world_size,
                  "device": str(device)}
        if "started" not in run.status:
            fields["started"] = time.time()
        run.write_status(**fields)
    try:
        trainer = Trainer(recipe, run=run, resume=resume is not None, device=device, info=info,
                          on_event=on_event, should_stop=should_stop)
        if resume is not None:
            checkpoints = sorted(
                (int(p.name[5:]), p) for p in (Path(resume) / "checkpoints").glob("step-*") if p.name[5:].isdigit()
            )
            if checkpoints:
                trainer.restore(checkpoints[-1][1])
            else:  # killed before its first checkpoint: start over in the same directory
                trainer.resume = False
    except BaseException as error:
        if run is not None:
            text = str(error) or type(error).__name__
            run.append_event({"event": "error", "step": 0, "time": time.time(), "message": text})
            run.write_status(status="failed", message=text, pid=None)
            run.close()
        raise
    if run is not None:
        if resume is not None:
            run.truncate_events_after(trainer.step)
        run.write_status(step=trainer.step)
        kind = "resumed" if resume is not None else "started"
        trainer.emit({"event": kind, "step": trainer.step, "time": time.time(), "recipe": recipe.name, "steps": recipe.steps})
    return trainer.run_loop()
