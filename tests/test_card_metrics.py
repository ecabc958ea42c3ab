"""The FID/KID a bundled generator's card states: written by training.card_metrics, read back here."""

import json
import shutil
from pathlib import Path

import pytest

from studio.checkpoints import load
from training import card_metrics

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
# every bundled generator of z, read from the folder (a new one is checked without editing this list)
GENERATORS = sorted(folder.name for folder in CHECKPOINTS.iterdir()
                    if (folder / "config.json").exists() and "latent_dim" in json.loads((folder / "config.json").read_text()))


def test_the_bundled_generators_are_found():
    assert {"mnist-dcgan", "mnist-wgangp", "mnist-cgan", "mnist-stylegan", "faces-dcgan"} <= set(GENERATORS)


@pytest.mark.parametrize("name", GENERATORS)
def test_every_bundled_generator_card_states_its_fid_with_n_and_interval(name):
    config = json.loads((CHECKPOINTS / name / "config.json").read_text())
    found = config["studio"]["sample_metrics"]["classifier"]  # the domain extractor, measured for every card
    assert found["extractor"].startswith(card_metrics.resolve("domain", config["studio"]))
    assert found["n"] == card_metrics.N_SAMPLES and found["seed"] == card_metrics.REPORT_SEED
    low, high = found["fid"]["interval"]
    assert 0 <= low <= found["fid"]["value"] <= high
    section = (CHECKPOINTS / name / "README.md").read_text().split(card_metrics.SECTION)[1].split("\n## ")[0]
    row = next(line for line in section.splitlines() if line.startswith(f"| {found['extractor']}"))
    assert f"{found['fid']['value']:.2f} [{low:.2f}, {high:.2f}]" in row
    assert f"{found['n_reference']:,} ({found['reference']})" in row and found["n_reference"] >= 5000


def test_a_fresh_measurement_repeats_the_card_and_ranks_the_conditional_gan_first():
    fids = {}
    for name in ("mnist-cgan", "mnist-dcgan"):
        loaded = load(str(CHECKPOINTS / name))
        fresh = card_metrics.measure(loaded.model, loaded.meta, "classifier:mnist-classifier")
        stated = json.loads((CHECKPOINTS / name / "config.json").read_text())["studio"]["sample_metrics"]["classifier"]
        for metric in ("fid", "kid"):  # the same up to float noise between CPUs (AVX2 / AVX-512), not a new draw
            assert fresh[metric]["value"] == pytest.approx(stated[metric]["value"], rel=1e-3)
            assert fresh[metric]["interval"] == pytest.approx(stated[metric]["interval"], rel=1e-3)
        fids[name] = fresh["fid"]["value"]
    # the conditional GAN draws the digit asked for 98.8% of the time; the DCGAN's samples are digits
    # the classifier is sure of 84% of the time: the FID agrees (25.8 against 39.8 on the card)
    assert fids["mnist-cgan"] * 1.3 < fids["mnist-dcgan"]


def test_remeasure_replaces_the_section_keeps_other_extractors_and_skips_what_it_cannot_measure(tmp_path):
    folder = tmp_path / "mnist-cgan"
    shutil.copytree(CHECKPOINTS / "mnist-cgan", folder)
    config = json.loads((folder / "config.json").read_text())
    config["studio"]["sample_metrics"] = {"inception": {**config["studio"]["sample_metrics"]["classifier"],
                                                        "extractor": "inception-v3-tf", "fid": {"value": 1.5, "interval": [1.0, 2.0]}}}
    (folder / "config.json").write_text(json.dumps(config))
    card_metrics.write_card(folder, config["studio"]["sample_metrics"])
    found = card_metrics.remeasure(folder, ["classifier:mnist-classifier"])
    assert set(found) == {"inception", "classifier"} and found["inception"]["fid"]["value"] == 1.5
    card = (folder / "README.md").read_text()
    assert card.count(card_metrics.SECTION) == 1 and "| inception-v3-tf | 1.50 [1.00, 2.00]" in card
    assert card.index(card_metrics.SECTION) < card.index("## Usage")
    assert card_metrics.remeasure(CHECKPOINTS / "mnist-classifier") == "mnist-classifier is not a generator of z"
