"""The training CLI.

    python -m training --list
    python -m training RECIPE [--steps N] [--out DIR] [--run-id ID] [--set key=value ...] [--device cpu|cuda]
    python -m training --resume RUN_DIR [--steps N] [--set key=value ...]
    torchrun --nproc_per_node=2 -m training RECIPE ...       (DistributedDataParallel)

Exit codes: 0 finished or stopped (STOP file, SIGTERM, Ctrl-C: the step ends, a checkpoint is
written); 1 the run failed (a NaN/inf loss: see runs/<id>/events.jsonl); 2 bad input (unknown
recipe, bad --set, data problem, bad run directory), reported as one line on stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

USAGE_ERROR = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training", description="Train a GAN Studio recipe.")
    parser.add_argument("recipe", nargs="?", help="recipe name (see --list); optional with --resume")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    parser.add_argument("--steps", type=int, help="total steps of the run (also when resuming)")
    parser.add_argument("--out", default="runs", help="parent directory of new runs (default: runs)")
    parser.add_argument("--run-id", help="name of the run directory (default: <recipe>-<time>-<hex>)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its newest checkpoint")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe field, e.g. batch_size=32 or model.width=16 (repeatable)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def fail(message: str, code: int = USAGE_ERROR) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def resolve_recipe(args: argparse.Namespace):
    import dataclasses

    from training.recipes import apply_overrides, get_recipe, recipe_from_dict
    from training.runs import read_status

    if args.resume:
        status = read_status(args.resume)
        if not status.get("config"):
            raise FileNotFoundError(f"{args.resume} is not a training run directory (no run.json with a config)")
        recipe = recipe_from_dict(status["config"])
        if args.recipe and args.recipe != recipe.name:
            raise ValueError(f"{args.resume} is a {recipe.name} run, not {args.recipe}")
    elif args.recipe:
        recipe = get_recipe(args.recipe)
    else:
        raise ValueError("name a recipe (python -m training --list) or pass --resume RUN_DIR")
    recipe = apply_overrides(recipe, args.overrides)
    if args.steps is not None:
        recipe = dataclasses.replace(recipe, steps=args.steps)
    return recipe


def format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from studio.errors import DataError
    from training import distributed as D
    from training.loop import train
    from training.recipes import RECIPES, RecipeError, validate

    if args.list:
        width = max(map(len, RECIPES))
        for name, recipe in RECIPES.items():
            print(f"{name:<{width}}  {recipe.family:<10}  {recipe.description}")
        return 0
    try:
        recipe = resolve_recipe(args)
        validate(recipe)
    except (RecipeError, ValueError, FileNotFoundError) as error:
        return fail(str(error))

    stop = {"requested": False}

    def request_stop(signum, frame):  # finish the step, checkpoint, exit 0
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    try:
        info, device = D.setup(args.device)
    except RuntimeError as error:
        return fail(str(error))
    bar = None
    show_progress = info.is_main and not args.no_progress

    def on_event(event: dict) -> None:
        nonlocal bar
        if not show_progress:
            return
        if event.get("event") in ("started", "resumed"):  # made here: a setup error shows no empty bar
            from tqdm import tqdm

            bar = tqdm(total=recipe.steps, initial=event["step"], unit="step", dynamic_ncols=True, desc=recipe.name)
        elif bar is not None and "event" not in event:
            bar.update(event["step"] - bar.n)
            keys = ("loss_g", "loss_d", "loss", "accuracy", "wasserstein")
            bar.set_postfix({k: f"{event[k]:.3f}" for k in keys if isinstance(event.get(k), float)}, refresh=False)

    try:
        result = train(
            recipe,
            out=args.out,
            run_id=args.run_id,
            resume=args.resume,
            device=device,
            info=info,
            on_event=on_event,
            should_stop=lambda: stop["requested"],
        )
    except (RecipeError, DataError, FileExistsError, FileNotFoundError) as error:
        if bar is not None:
            bar.close()
        return fail(str(error))
    finally:
        D.teardown()
    if bar is not None:
        bar.close()
    if not info.is_main:
        return 0 if result.status != "failed" else 1
    last = result.metrics
    losses = " ".join(f"{k} {last[k]:.4g}" for k in ("loss_g", "loss_d", "loss", "accuracy") if isinstance(last.get(k), float))
    where = f"run {result.run_dir}" + (f", checkpoint {Path(result.checkpoint).name}" if result.checkpoint else "")
    line = (f"{result.status} {recipe.name}: step {result.step}/{recipe.steps} in {format_seconds(result.elapsed)} "
            f"({result.images_per_s:.0f} img/s)" + (f", {losses}" if losses else "") + f", {where}")
    if result.status == "failed":
        print(line, file=sys.stderr)
        print(f"error: {result.message}", file=sys.stderr)
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
