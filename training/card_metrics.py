"""Sample metrics on a bundled checkpoint's card: ``python -m training.card_metrics NAME [NAME ...]``.

For a generator of z (the digit GANs, StyleGAN), FID and KID of 1,000 fresh samples (the report
seed, never used to choose the checkpoint) against the model's training data, with 95% bootstrap
intervals, in each extractor's feature space:

- ``domain``: the bundled classifier of the model's own data (``classifier:mnist-classifier`` for
  digits, ``classifier:faces-attributes`` for the cartoon faces): cheap, and it knows what a digit
  or a face is;
- ``inception``: TF-Inception's pool features, the extractor papers quote (299 px, slow on a CPU:
  ``--extractor`` picks which to run).

The numbers go into the checkpoint's ``config.json`` (``studio.sample_metrics``, one entry per
extractor, kept when another extractor is measured later) and a "## Sample metrics" section of its
README.md card, so a card says what its FID is, with its N and interval, next to its bar.
``python -m training.bundle`` calls this after writing a generator's bundle. Models whose data
has no bundled reference (translation models, classifiers) are skipped with a reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

N_SAMPLES = 1000
REPORT_SEED = 1
BOOTSTRAP = 50
EXTRACTORS = ("domain", "inception")
DOMAIN = {"mnist": "classifier:mnist-classifier", "faces": "classifier:faces-attributes",
          "faces_fair": "classifier:faces-attributes"}  # a reference dataset's own extractor
SECTION = "## Sample metrics"


def reference_of(meta: dict) -> str | None:
    """The bundled reference dataset of a checkpoint's training data ("mnist-5k" -> "mnist"), or None
    when it has none or no domain extractor to measure it with."""
    from studio.audit.sources import REFERENCE_DATASETS

    reference = REFERENCE_DATASETS.get(str(meta.get("dataset") or "").split(":")[0])
    return reference if reference in DOMAIN else None


def resolve(extractor: str, meta: dict) -> str:
    """``domain`` -> the classifier of the model's own data; any other name as given."""
    return DOMAIN[reference_of(meta)] if extractor == "domain" else extractor


def measure(model, meta: dict, extractor: str, n: int = N_SAMPLES, seed: int = REPORT_SEED) -> dict:
    """FID and KID with their intervals: {"fid": {"value", "interval"}, "kid": {...}, "n", "n_reference", ...}."""
    from studio.audit import metrics

    reference = reference_of(meta)
    found = metrics.evaluate((model, {**meta, "dataset": reference}), reference, metrics="fid,kid", n=n,
                             extractor=extractor, seed=seed, bootstrap=BOOTSTRAP)
    pick = {name: {"value": round(float(found["metrics"][name]["value"]), 4),
                   "interval": [round(float(v), 4) for v in found["metrics"][name]["interval"]]} for name in ("fid", "kid")}
    return {**pick, "n": found["n"], "n_reference": found["n_reference"], "seed": seed, "reference": found["reference"]["name"],
            "extractor": found["extractor"]}


def section(sample_metrics: dict) -> str:
    """The card's markdown section for ``config.json``'s ``studio.sample_metrics``."""
    lines = [SECTION, "", f"{N_SAMPLES:,} fresh samples (seed {REPORT_SEED}, not used to choose this checkpoint) "
             "against the training data, 95% bootstrap intervals. Compare FIDs only at the same N and extractor: "
             "FID falls as N grows, and each extractor has its own scale. Inception learned photographs: on "
             "small digits or cartoons its FID can rank models differently from the domain classifier, which "
             "knows what the images should show.", "",
             "| extractor | FID | KID | N | reference images |", "|---|---|---|---|---|"]
    for name, m in sample_metrics.items():
        fid, kid = m["fid"], m["kid"]
        lines.append(f"| {m['extractor']} | {fid['value']:.2f} [{fid['interval'][0]:.2f}, {fid['interval'][1]:.2f}] | "
                     f"{kid['value']:.4f} [{kid['interval'][0]:.4f}, {kid['interval'][1]:.4f}] | {m['n']:,} | "
                     f"{m['n_reference']:,} ({m['reference']}) |")
    return "\n".join(lines) + "\n"


def write_card(folder: Path, sample_metrics: dict) -> None:
    """Replace (or add, before "## Usage") the card's sample-metrics section."""
    card = folder / "README.md"
    text = card.read_text()
    new = section(sample_metrics)
    if SECTION in text:
        start = text.index(SECTION)
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + new + ("\n" + text[end + 1:] if end >= 0 else "")
    elif "\n## Usage" in text:
        at = text.index("\n## Usage") + 1
        text = text[:at] + new + "\n" + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + new
    card.write_text(text)


def remeasure(folder: Path, extractors=EXTRACTORS) -> dict | str:
    """Measure ``extractors`` on the checkpoint in ``folder`` and write config.json and the card.
    Returns the sample metrics, or the reason the checkpoint has none."""
    from studio.checkpoints import load

    loaded = load(folder)
    if not hasattr(loaded.model, "latent_dim") or getattr(loaded.model, "task", "") not in ("unconditional", "conditional"):
        return f"{folder.name} is not a generator of z"
    if reference_of(loaded.meta) is None:
        return f"{folder.name}'s training data ({loaded.meta.get('dataset')}) has no bundled reference"
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    found = dict(config["studio"].get("sample_metrics", {}))
    for extractor in extractors:
        extractor = resolve(extractor, loaded.meta)
        found[extractor.split(":")[0]] = measure(loaded.model, loaded.meta, extractor)
    config["studio"]["sample_metrics"] = found
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    write_card(folder, found)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.card_metrics", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", help="bundled checkpoint names (folders under --out)")
    parser.add_argument("--out", default="checkpoints", help="parent of the bundled checkpoints (default: checkpoints)")
    parser.add_argument("--extractor", action="append",
                        help="measure only this extractor: domain, inception or classifier:<zoo name> "
                             "(repeatable; default: domain and inception)")
    args = parser.parse_args(argv)
    for name in args.names:
        found = remeasure(Path(args.out) / name, args.extractor or EXTRACTORS)
        if isinstance(found, str):
            print(f"{name}: skipped: {found}")
            continue
        for key, m in found.items():
            print(f"{name} [{m['extractor']}]: FID {m['fid']['value']:.2f} {m['fid']['interval']}, "
                  f"KID {m['kid']['value']:.4f} {m['kid']['interval']} (N {m['n']}, {m['n_reference']} real)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
