"""A mutation check: plant deliberate bugs, one at a time, and see the tests catch each of them.

Each mutant replaces one exact piece of text in one file of a temporary copy of this repository
(its tracked and untracked, not ignored, files), then runs the tests named for it with ``-x -q``.
A mutant is *caught* when those tests fail. A mutant whose text is no longer in the file is
reported as *stale* (the code moved: update the mutant), one whose test files do not exist (yet)
as *no such tests*. Before the mutants, each selection runs once unmutated: a selection that
fails without a bug proves nothing, and is reported as *broken baseline*.

    python scripts/mutants.py                  # every mutant, a table at the end (several minutes)
    python scripts/mutants.py --only threshold # mutants whose name contains "threshold"
    python scripts/mutants.py --no-baseline    # skip the unmutated runs
    python scripts/mutants.py --list

Not part of the default test run (it takes minutes); run it before resolving a change to the
maths or the pages. Exit status 1 when any mutant was not caught.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]  # test files or globs, relative to the root; "-k ..." style options pass through


# The direction-of-learning tests first: with -x a caught mutant stops there, before the slow ones.
ENGINE_TESTS = ("tests/test_training_direction*.py", "tests/test_losses.py",
                "tests/test_training.py")

MUTANTS = [
    # ---- the engine: learning goes the right way (caught by the engine direction tests)
    Mutant(
        "D's real/fake targets swapped",
        "training/losses.py",
        "F.binary_cross_entropy_with_logits(real, real_target) + F.binary_cross_entropy_with_logits(fake, fake_target)",
        "F.binary_cross_entropy_with_logits(real, fake_target) + F.binary_cross_entropy_with_logits(fake, real_target)",
        ENGINE_TESTS,
    ),
    Mutant(
        "G's optimizer never steps",
        "training/steps.py",
        "        norm_g = update(opt_g, loss_g, ctx.params(\"g\"))\n",
        "        norm_g = update(torch.optim.SGD(ctx.params(\"g\"), lr=0.0), loss_g, ctx.params(\"g\"))\n",
        ENGINE_TESTS,
    ),
    Mutant(
        "pix2pix G loss without L1",
        "training/steps.py",
        "        loss_g = loss_adv + loss_l1\n",
        "        loss_g = loss_adv\n",
        ENGINE_TESTS,
    ),
    Mutant(
        "DDP never wraps the model",
        "training/distributed.py",
        "            view._modules[name] = wrappers[name]\n",
        "            view._modules[name] = child\n",
        ("tests/test_training_ddp*.py",),
    ),
    # ---- pages draw the right picture
    Mutant(
        "truncation page ignores ?threshold=",
        "app_pages/2_Truncation_trick.py",
        '"threshold": (0.7, parse_threshold),',
        '"threshold": (0.7, lambda text: 0.7),',
        ("tests/test_app.py",),
    ),
    Mutant(
        "conditional fast path draws the next class",
        "studio/accel/generators.py",
        "    entry = _prepared(model)\n    with torch.no_grad():",
        "    if labels is not None and not labels.is_floating_point():\n"
        "        labels = (labels + 1) % model.num_classes\n"
        "    entry = _prepared(model)\n    with torch.no_grad():",
        ("tests/test_latent.py", "tests/test_app.py"),
    ),
    Mutant(
        "training page ignores ?run=",
        "app_pages/4_Training.py",
        'requested = st.query_params.get("run")',
        "requested = None",
        ("tests/test_training_page.py",),
    ),
    Mutant(
        "interpolation page ignores ?classes=",
        "app_pages/1_Latent_interpolation.py",
        '"classes": ([], shared.parse_int_list),',
        '"classes": ([], lambda text: []),',
        ("tests/test_app.py",),
    ),
    # ---- losses, data order, latent paths, translation fitting, the zoo
    Mutant(
        "gradient penalty pulls norms to 0, not 1",
        "training/losses.py",
        "((norms - 1.0) ** 2).mean()",
        "(norms**2).mean()",
        ("tests/test_losses.py",),
    ),
    Mutant(
        "paired folders give (B, A) for AtoB",
        "studio/data/translation.py",
        'return (a, b) if self.direction == "AtoB" else (b, a)',
        'return (b, a) if self.direction == "AtoB" else (a, b)',
        ("tests/test_maps.py", "tests/test_data.py"),
    ),
    Mutant(
        "slerp weights swapped",
        "studio/explore/latent.py",
        "spherical = torch.sin((1 - t) * omega) / safe * a + torch.sin(t * omega) / safe * b",
        "spherical = torch.sin(t * omega) / safe * a + torch.sin((1 - t) * omega) / safe * b",
        ("tests/test_latent.py",),
    ),
    Mutant(
        "translation fitting ignores the direction's channels",
        "studio/translate/fitting.py",
        'return (ins, outs) if direction == "a2b" else (outs, ins)',
        "return (ins, outs)",
        ("tests/test_translate.py",),
    ),
    Mutant(
        "zoo lists its entries in reverse",
        "studio/checkpoints/zoo.py",
        "        result.append(entry)\n",
        "        result.insert(0, entry)\n",
        ("tests/test_zoo.py", "tests/test_app.py"),
    ),
    # ---- the features that came later: metrics, editing, StyleGAN, segmentation, fairness
    Mutant(
        "FID without the covariance term",
        "studio/audit/measures.py",
        "diff @ diff + sigma1.trace() + sigma2.trace() - 2.0 * trace_sqrt",
        "diff @ diff",
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "classifier-gradient edit walks the wrong way",
        "studio/explore/editing.py",
        "        value = direction * logits[:, t]\n",
        "        value = -direction * logits[:, t]\n",
        ("tests/test_editing.py",),
    ),
    Mutant(
        "W truncation pulls the wrong layers (from cutoff on)",
        "studio/models/stylegan.py",
        "        ws[:, :cutoff] = torch.lerp(self.w_avg.to(ws.dtype), ws[:, :cutoff], psi)\n",
        "        ws[:, cutoff:] = torch.lerp(self.w_avg.to(ws.dtype), ws[:, cutoff:], psi)\n",
        ("tests/test_stylegan.py", "tests/test_style_mixing_page.py"),
    ),
    Mutant(
        "IoU's union counts the hits twice",
        "studio/apply/segmentation.py",
        "    union = matrix.sum(0) + matrix.sum(1) - hits\n",
        "    union = matrix.sum(0) + matrix.sum(1)\n",
        ("tests/test_apply.py",),
    ),
    Mutant(
        "feature editing page shows a different seed than asked",
        "app_pages/6_Feature_editing.py",
        "result = run_edit(model, int(seed), target,",
        "result = run_edit(model, int(seed) + 1, target,",
        ("tests/test_feature_pages.py", "tests/test_browser.py", "-kediting"),
    ),
    Mutant(
        "keep-others edit takes every step whole (no backtracking)",
        "studio/explore/editing.py",
        "                        size = torch.where(worse, size / 2, size)\n",
        "                        break\n",
        ("tests/test_editing.py",),
    ),
    Mutant(
        "card metrics measured on the selection seed",
        "training/card_metrics.py",
        "REPORT_SEED = 1\n",
        "REPORT_SEED = 0\n",
        ("tests/test_card_metrics.py",),
    ),
    Mutant(
        "the digit GANs' bar passes a generator that draws one digit (coverage ignored)",
        "studio/audit/quality.py",
        "return confident >= CONFIDENT_RATIO * real_confident and classes_in_range(fractions) == len(fractions)",
        "return confident >= CONFIDENT_RATIO * real_confident",
        ("tests/test_bench_learn.py", "tests/test_training_page.py"),
    ),
    Mutant(
        "the real digits' share is measured again at every checkpoint (no memory)",
        "studio/audit/quality.py",
        "    if key not in _REAL_SHARES:",
        "    if True:",
        ("tests/test_training.py", "-kreal_digits_share"),
    ),
    Mutant(
        "the real digits' share is remembered across changed weights (a stale number)",
        "studio/audit/quality.py",
        "        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())",
        "        pass",
        ("tests/test_training.py", "-kreal_digits_share"),
    ),
    Mutant(
        "Gradio /translate decodes uploads with PIL, not the studio's checked reader",
        "studio/api/translation.py",
        "    return translate.read_image(path.read_bytes(), channels=channels, name=path.name)",
        "    from PIL import Image\n    return np.asarray(Image.open(path).convert('RGB')), []",
        ("tests/test_odd_inputs.py",),
    ),
    Mutant(
        "card's sample-metrics row shows the interval's low end as the FID",
        "training/card_metrics.py",
        "{fid['value']:.2f} [{fid['interval'][0]:.2f}",
        "{fid['interval'][0]:.2f} [{fid['interval'][0]:.2f}",
        ("tests/test_card_metrics.py",),
    ),
]


def repository_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


def copy_repository(target: Path) -> None:
    for name in repository_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)


def expand(copy: Path, selection: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(pytest arguments, the patterns that matched no file)."""
    arguments, missing = [], []
    for item in selection:
        if item.startswith("-"):
            arguments.append(item)
            continue
        found = sorted(str(Path(p).relative_to(copy)) for p in glob.glob(str(copy / item)))
        (arguments.extend(found) if found else missing.append(item))
    return arguments, missing


def run_tests(copy: Path, arguments: list[str], log: Path) -> tuple[int, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
           "PYTHONDONTWRITEBYTECODE": "1"}
    # Its own temporary folder: pytest prunes all but the newest three of /tmp/pytest-of-USER/pytest-N,
    # so on a machine where other test runs start meanwhile a shared one can vanish under a test.
    basetemp = log.parent.parent / "pytest-tmp"
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
               f"--basetemp={basetemp}", *arguments]
    start = time.monotonic()
    with open(log, "w") as out:
        result = subprocess.run(command, cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT)
    return result.returncode, time.monotonic() - start


def last_failure(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("FAILED ")]
    return lines[0].removeprefix("FAILED ")[:90] if lines else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the mutants whose name contains this text")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated runs of each selection")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy and the logs")
    args = parser.parse_args()
    mutants = [m for m in MUTANTS if not args.only or args.only.lower() in m.name.lower()]
    if args.list:
        for m in mutants:
            print(f"{m.name:55s} {m.file:38s} {' '.join(m.tests)}")
        return 0

    work = Path(tempfile.mkdtemp(prefix="mutants-"))
    copy, logs = work / "repo", work / "logs"
    logs.mkdir()
    copy_repository(copy)
    print(f"copy of {ROOT} in {copy}", flush=True)

    baseline: dict[tuple[str, ...], tuple[int, str]] = {}
    rows = []
    for number, mutant in enumerate(mutants, 1):
        arguments, missing = expand(copy, mutant.tests)
        note = f"missing {' '.join(missing)}" if missing else ""
        if not any(not a.startswith("-") for a in arguments):
            rows.append((mutant, "no such tests", 0.0, note))
            print(f"[{number}/{len(mutants)}] {mutant.name}: no such tests", flush=True)
            continue
        key = tuple(arguments)
        if not args.no_baseline and key not in baseline:
            baseline_log = logs / f"baseline-{len(baseline)}.log"
            code, _ = run_tests(copy, arguments, baseline_log)
            baseline[key] = (code, last_failure(baseline_log))
        code, failure = baseline.get(key, (0, ""))
        if code != 0:
            rows.append((mutant, "broken baseline", 0.0, f"unmutated: {failure or f'pytest exit {code}'}"))
            continue
        path = copy / mutant.file
        original = path.read_text()
        if original.count(mutant.old) != 1:
            rows.append((mutant, "stale", 0.0, f"text found {original.count(mutant.old)} times in {mutant.file}"))
            continue
        path.write_text(original.replace(mutant.old, mutant.new))
        log = logs / f"mutant-{number}.log"
        try:
            code, seconds = run_tests(copy, arguments, log)
        finally:
            path.write_text(original)
        if code == 1:
            outcome, note = "caught", last_failure(log) + (f" ({note})" if note else "")
        elif code == 0:
            outcome = "MISSED"
        else:
            outcome, note = f"error (pytest exit {code})", f"see {log}"
        rows.append((mutant, outcome, seconds, note))
        print(f"[{number}/{len(mutants)}] {mutant.name}: {outcome} in {seconds:.0f} s", flush=True)

    print()
    print(f"| {'mutant':52s} | {'file':34s} | {'result':15s} | {'time':>5s} | caught by / note")
    print(f"|{'-' * 54}|{'-' * 36}|{'-' * 17}|{'-' * 7}|{'-' * 30}")
    for mutant, outcome, seconds, note in rows:
        print(f"| {mutant.name:52s} | {mutant.file:34s} | {outcome:15s} | {seconds:4.0f}s | {note}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"\nlogs in {logs}")
    return 0 if all(outcome == "caught" for _, outcome, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
