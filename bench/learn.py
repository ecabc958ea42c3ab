"""Wall time until an MNIST DCGAN draws digits: the studio's default recipe against the course's.

A classroom has minutes. Both candidates train on the same 5,000 bundled digits, in turns of
``--chunk`` seconds of training each, in one process on all cores; after every turn a judge looks
at 1,000 samples (seed 7, never used to train or select anything) and the clock stops while it
does. The time to the bar is the training time (judging excluded) at the first look where:

- the bundled ``mnist-classifier`` is sure of the digit (probability >= 0.9) for at least 0.8 x
  its share on the 1,000 held-out real test digits (measured at the start, same judge), and
- every digit is 5-15% of the samples (a G that draws one crisp digit is not learning MNIST).

This is the bar of the bundled unconditional MNIST GANs (issue 18).

- ``studio``: the engine's ``Trainer`` on the training tab's default recipe (``mnist-dcgan``), as
  the tab runs it (its sample grids and FID events included), judged on the weights a checkpoint
  would hold (G's moving average, BatchNorm in eval mode);
- ``course``: the course notebook (GAN Specialization, course 1 week 2) as it is written: its
  28-pixel generator and discriminator, its ``weights_init`` (BatchNorm scales from N(0, 0.02)),
  Adam(2e-4, betas (0.5, 0.999)), batch 128 from a shuffled loader, BCE with logits, the D loss
  halved, a fresh noise batch for the G step and ``.item()`` of the losses each step. Judged in
  both BatchNorm modes (eval, and the batch statistics the notebook's own pictures use); the
  better one counts.

Goal (issue 18): the studio at most 0.5x the course's time. A candidate that has not reached the
bar after ``--limit`` seconds is reported as "> limit", and the ratio as an upper bound.

    python -m bench learn [--limit 600] [--chunk 10] [--seeds 0] [--recipe mnist-dcgan] [--set KEY=VALUE ...]

``--tab SECONDS [--limit L]`` measures what a learner sees instead: each seed's run is started as the training
tab starts it (``studio.live.start_run``: its own process and run folder, checkpoints, sample grids,
FID events and the trainer's verdict on each checkpoint), and after SECONDS of wall time from Start
the bench reads what the tab shows, the verdict on the newest checkpoint (1,000 samples of seed 0,
``studio.live.checkpoint_quality``'s numbers). With ``--limit`` it keeps looking, once a second as
the tab refreshes, until the tab shows the bar or L seconds have passed, and says when. Issue 18:
recognisable digits, at this bar, within 120 s.

    python -m bench learn --tab 120 [--limit 240] [--seeds 0,1,2] [--recipe mnist-dcgan] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
from torch import nn

from bench.common import cpu_description, use_all_cores
from bench.train import reference_nets
from studio.audit.quality import CONFIDENT_RATIO, classes_in_range, meets_digit_bar

JUDGE_SEED = 7
JUDGE_SAMPLES = 1000
GOAL = 0.5


# ----------------------------------------------------------------------------- the judge


class Judge:
    """The bundled digit classifier's verdict on 1,000 samples: (passed, confident share, digits in range)."""

    def __init__(self):
        from studio.audit.quality import real_digits_confident_share
        from studio.checkpoints import load

        self.classifier = load("checkpoints/mnist-classifier").model.eval()
        self.real_share = real_digits_confident_share(self.classifier)
        self.bar = CONFIDENT_RATIO * self.real_share

    def __call__(self, images: torch.Tensor) -> tuple[bool, float, int]:
        from studio.audit.quality import class_statistics

        fractions, share = class_statistics(images, self.classifier)
        return meets_digit_bar(share, self.real_share, fractions), share, classes_in_range(fractions)


def _draw(generator, z: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([generator(z[i : i + 250]).float() for i in range(0, len(z), 250)])


# ----------------------------------------------------------------------------- the candidates


class Studio:
    """The engine on a recipe, step by step as ``run_loop`` does (no run folder is written)."""

    def __init__(self, recipe_name: str, seed: int, overrides: tuple[str, ...] = ()):
        from training.loop import Trainer
        from training.recipes import apply_overrides, get_recipe

        self.recipe = apply_overrides(get_recipe(recipe_name), [*overrides, f"seed={seed}"])
        self.trainer = Trainer(self.recipe, run=None)
        self.name = f"studio {recipe_name}" + (" (changed)" if overrides else "")

    @property
    def steps(self) -> int:
        return self.trainer.step

    def train_for(self, seconds: float) -> float:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            self.trainer.train_step()
            self.trainer.write_periodic()
        return time.perf_counter() - start

    def judge(self, judge: Judge) -> tuple[bool, float, int, str]:
        from studio.models.base import evaluating

        with self.trainer.averaged_generator() as model, evaluating(model):
            z = model.sample_latent(JUDGE_SAMPLES, JUDGE_SEED)
            images = _draw(model.generate, z)
        return (*judge(images), "EMA, eval")


def course_weights_init(m: nn.Module) -> None:
    """The notebook's ``weights_init``: note the BatchNorm scales drawn around 0, not 1."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    if isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.constant_(m.bias, 0)


class Course:
    """The course notebook's DCGAN training loop, one batch per iteration."""

    Z_DIM, BATCH, LR, BETAS = 64, 128, 2e-4, (0.5, 0.999)

    def __init__(self, seed: int):
        from studio.data import mnist

        torch.manual_seed(seed)
        self.gen, self.disc = reference_nets(28, 1, self.Z_DIM, 64, 16)  # the notebook's Generator(), Discriminator()
        self.gen.apply(course_weights_init)
        self.disc.apply(course_weights_init)
        self.gen_opt = torch.optim.Adam(self.gen.parameters(), lr=self.LR, betas=self.BETAS)
        self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=self.LR, betas=self.BETAS)
        self.criterion = nn.BCEWithLogitsLoss()
        self.images = mnist().images  # (5000, 1, 28, 28) in [-1, 1], as ToTensor + Normalize((0.5,), (0.5,))
        self.order, self.position, self.steps = torch.randperm(len(self.images)), 0, 0
        self.name = "course DCGAN"

    def _batch(self) -> torch.Tensor:
        """DataLoader(shuffle=True, batch_size=128): a new permutation each epoch, the last batch short."""
        if self.position >= len(self.images):
            self.order, self.position = torch.randperm(len(self.images)), 0
        index = self.order[self.position : self.position + self.BATCH]
        self.position += self.BATCH
        return self.images[index]

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.Z_DIM).view(n, self.Z_DIM, 1, 1)  # get_noise, then Generator.forward's view

    def step(self) -> None:
        real = self._batch()
        cur_batch_size = len(real)
        self.disc_opt.zero_grad()
        fake = self.gen(self._noise(cur_batch_size))
        disc_fake_pred = self.disc(fake.detach())
        disc_fake_loss = self.criterion(disc_fake_pred, torch.zeros_like(disc_fake_pred))
        disc_real_pred = self.disc(real)
        disc_real_loss = self.criterion(disc_real_pred, torch.ones_like(disc_real_pred))
        disc_loss = (disc_fake_loss + disc_real_loss) / 2
        disc_loss.backward(retain_graph=True)
        self.disc_opt.step()

        self.gen_opt.zero_grad()
        fake_2 = self.gen(self._noise(cur_batch_size))
        disc_fake_pred = self.disc(fake_2)
        gen_loss = self.criterion(disc_fake_pred, torch.ones_like(disc_fake_pred))
        gen_loss.backward()
        self.gen_opt.step()
        disc_loss.item(), gen_loss.item()  # the notebook accumulates both for its display
        self.steps += 1

    def train_for(self, seconds: float) -> float:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            self.step()
        return time.perf_counter() - start

    def judge(self, judge: Judge) -> tuple[bool, float, int, str]:
        z = torch.randn(JUDGE_SAMPLES, self.Z_DIM, generator=torch.Generator().manual_seed(JUDGE_SEED))
        z = z.view(-1, self.Z_DIM, 1, 1)
        self.gen.eval()
        verdicts = [(*judge(_draw(self.gen, z)), "eval")]
        self.gen.train()
        batch_stats = copy.deepcopy(self.gen)  # train-mode BatchNorm updates running statistics: not the live G's
        verdicts.append((*judge(_draw(batch_stats, z)), "batch statistics"))
        return max(verdicts, key=lambda v: (v[0], v[1] * (v[2] == 10), v[1]))


# ----------------------------------------------------------------------------- the race


def race(candidates: list, judge: Judge, limit: float, chunk: float) -> dict[str, dict]:
    """Train the candidates in turns until each passes or has trained ``limit`` seconds."""
    results = {c.name: {"seconds": 0.0, "passed": False, "share": 0.0, "in_range": 0, "mode": "", "steps": 0} for c in candidates}
    running = list(candidates)
    while running:
        for candidate in list(running):
            result = results[candidate.name]
            result["seconds"] += candidate.train_for(min(chunk, limit - result["seconds"]))
            passed, share, in_range, mode = candidate.judge(judge)
            result.update(passed=passed, share=share, in_range=in_range, mode=mode, steps=candidate.steps)
            print(f"  {candidate.name:22} {result['seconds']:6.0f} s  step {candidate.steps:6d}  sure {share:6.1%}  "
                  f"digits in 5-15% {in_range:2d}  ({mode}){'  <- bar' if passed else ''}", flush=True)
            if passed or result["seconds"] >= limit - 1e-6:
                running.remove(candidate)
    return results


def tab_clock(recipe: str, seed: int, seconds: float, root, overrides: tuple[str, ...] = (),
              limit: float | None = None) -> dict:
    """Start ``recipe`` as the training tab does and look at the run once a second, as the tab
    refreshes: what the tab shows ``seconds`` after Start ({"steps", "checkpoint", "share", "real",
    "in_range", "passed"}; the verdict's fields are None while no judged checkpoint exists), plus
    "first_step_s" and "bar_after_s", when the shown verdict first met the bar (watched until
    ``limit`` seconds at most; None if it had not)."""
    from pathlib import Path

    from studio import live
    from training import read_events

    settings = dict(item.split("=", 1) for item in overrides)
    limit = max(seconds, limit or seconds)
    started = time.monotonic()
    wall_start = time.time()
    run = live.start_run(recipe, {**settings, "seed": seed}, root=Path(root), run_id=f"bench-tab-{recipe}-{seed}")
    snapshot, reached, log = None, None, live.EventLog(run.path)
    try:
        while True:
            now = time.monotonic() - started
            view = _tab_view(log)
            if reached is None and view["passed"]:
                reached = now
            if snapshot is None and now >= seconds:
                snapshot = view
            if snapshot is not None and (reached is not None or now >= limit):
                break
            wait = 1.0 if snapshot is not None else min(1.0, seconds - now)
            time.sleep(max(0.0, wait))
    finally:
        live.stop_run(run.path)
        deadline = time.monotonic() + 60
        while live.read_run(run.path).live and time.monotonic() < deadline:
            time.sleep(0.2)
    first = next((e["time"] for e in read_events(run.path) if "event" not in e), None)  # once, after the run
    return {**snapshot, "bar_after_s": reached, "first_step_s": None if first is None else first - wall_start}


def _tab_view(log) -> dict:
    """What the training tab shows of a run now (``log``: the run's ``live.EventLog``, read on from
    where it stopped, as the tab reads it): the newest checkpoint and the trainer's verdict on it."""
    from studio import live

    run = live.read_run(log.path.parent)  # the tab lists the checkpoints, then reads the events (live_panel)
    log.update()
    snapshot = log.snapshot()
    checkpoint = run.checkpoints[-1] if run.checkpoints else None
    verdict = live.logged_quality(snapshot["markers"], checkpoint) if checkpoint is not None else None
    found = {"steps": snapshot["steps"][-1] if snapshot["steps"] else 0, "checkpoint": checkpoint,
             "share": None, "real": None, "in_range": None, "passed": False}
    if verdict and "histogram" in verdict:
        found.update(share=verdict["confident_share"], real=verdict["real_confident_share"],
                     in_range=classes_in_range(verdict["histogram"]),
                     passed=meets_digit_bar(verdict["confident_share"], verdict["real_confident_share"],
                                            verdict["histogram"]))
    return found


def tab_main(args, seeds: list[int]) -> int:
    import tempfile

    limit = max(args.tab, args.limit if args.limit_given else args.tab)
    print(f"{cpu_description()}; torch {torch.__version__}; recipe {args.recipe}" + "".join(f" {o}" for o in args.overrides))
    print(f"The training tab's verdict {args.tab:g} s after Start (started as the tab starts a run; the bar: sure of "
          f">= {CONFIDENT_RATIO} x the real digits' share of {JUDGE_SAMPLES:,} samples, every digit 5-15%), and when "
          f"the tab first showed the bar (looked at once a second, up to {limit:g} s)")
    print(f"\n{'seed':>4}{'first step':>12}{'steps':>8}{'shown':>8}{'sure':>8}{'bar':>8}{'ratio':>7}{'in 5-15%':>10}"
          f"  at the bar{'bar shown after':>17}")
    passed, times = 0, []
    with tempfile.TemporaryDirectory(prefix="bench-tab-") as root:
        for seed in seeds:
            r = tab_clock(args.recipe, seed, args.tab, root, tuple(args.overrides), limit)
            passed += r["passed"]
            times.append(r["bar_after_s"])
            first = "-" if r["first_step_s"] is None else f"{r['first_step_s']:.1f} s"
            after = f"{r['bar_after_s']:.0f} s" if r["bar_after_s"] is not None else f"> {limit:g} s"
            if r["share"] is None:
                print(f"{seed:4d}{first:>12}{r['steps']:8d}{'none':>8}  (no judged checkpoint yet){after:>17}")
                continue
            bar = CONFIDENT_RATIO * r["real"]
            print(f"{seed:4d}{first:>12}{r['steps']:8d}{r['checkpoint']:8d}{r['share']:8.1%}{bar:8.1%}"
                  f"{r['share'] / bar:7.3f}{r['in_range']:10d}  {'yes' if r['passed'] else 'no':>10}{after:>17}")
    print(f"\nat the bar {args.tab:g} s after Start: {passed} of {len(seeds)} seeds (goal: every seed within 120 s)")
    if limit > args.tab:
        reached = [t for t in times if t is not None]
        print(f"the tab first showed the bar within {limit:g} s for {len(reached)} of {len(seeds)} seeds"
              + (f" (median of those {statistics.median(reached):.0f} s)" if reached else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench learn", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="mnist-dcgan", help="the studio's recipe (default: the training tab's)")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds of training at most, each (default 600)")
    parser.add_argument("--chunk", type=float, default=10.0, help="seconds of training between looks (default 10)")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change the studio's recipe, as python -m training --set does")
    parser.add_argument("--tab", type=float, default=None, metavar="SECONDS",
                        help="instead: the training tab's verdict SECONDS after a run is started as the tab starts it")
    args = parser.parse_args(argv)
    args.limit_given = any(a == "--limit" or a.startswith("--limit=") for a in (argv if argv is not None else sys.argv[1:]))
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.tab is not None:
        return tab_main(args, seeds)

    threads = use_all_cores()
    judge = Judge()
    print(f"{cpu_description()}; torch {torch.__version__}, {threads} threads; recipe {args.recipe}"
          + "".join(f" {o}" for o in args.overrides))
    print(f"Bar: sure of the digit on >= {judge.bar:.1%} of {JUDGE_SAMPLES:,} samples ({CONFIDENT_RATIO} x "
          f"{judge.real_share:.1%} on real held-out digits) and every digit 5-15%; judged every {args.chunk:g} s "
          f"of training; at most {args.limit:g} s each")
    times: dict[str, list[float]] = {}
    rows = []
    for seed in seeds:
        print(f"seed {seed}")
        results = race([Studio(args.recipe, seed, tuple(args.overrides)), Course(seed)], judge, args.limit, args.chunk)
        for name, r in results.items():
            times.setdefault(name, []).append(r["seconds"] if r["passed"] else float("inf"))
            rows.append((name, seed, r))

    print(f"\n{'candidate':24}{'seed':>5}{'steps':>8}{'time to bar':>14}{'sure':>8}{'in 5-15%':>10}")
    for name, seed, r in rows:
        shown = f"{r['seconds']:.0f} s" if r["passed"] else f"> {args.limit:.0f} s"
        print(f"{name:24}{seed:5d}{r['steps']:8d}{shown:>14}{r['share']:8.1%}{r['in_range']:10d}")
    studio_name, course_name = rows[0][0], rows[1][0]
    ours, theirs = statistics.median(times[studio_name]), statistics.median(times[course_name])
    if ours == float("inf"):
        print(f"\nratio {studio_name} / {course_name}: the studio did not reach the bar in {args.limit:g} s (goal <= {GOAL}x)")
        return 1
    if theirs == float("inf"):
        print(f"\nratio {studio_name} / {course_name} (median time to bar): < {ours / args.limit:.2f}x "
              f"(the course did not reach the bar in {args.limit:g} s; goal <= {GOAL}x)")
    else:
        print(f"\nratio {studio_name} / {course_name} (median time to bar): {ours / theirs:.2f}x (goal <= {GOAL}x)")
    return 0
