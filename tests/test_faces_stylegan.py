"""Style mixing on faces, measured: the colour regions of the drawn faces, and training.bundle's
measure_faces_stylegan (what the faces-stylegan card reports) on models whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.data.faces import (
    HAIR_COLOURS,
    HAIRSTYLES,
    SKIN_SHADES,
    STRONG_COLOURS,
    colour_regions,
    region_colours,
    render_face,
    sample_faces,
)
from studio.models.stylegan import StyleGAN
from training import bundle

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
PALETTES = {"skin": SKIN_SHADES, "hair": tuple(HAIR_COLOURS.values()), "clothes": STRONG_COLOURS}
KEYS = {"skin": "shade", "hair": "hair", "clothes": "clothes_colour"}


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (0, 2, 4)]) / 255


def test_colour_regions_are_disjoint_and_where_a_face_has_them():
    masks = colour_regions(32)
    assert set(masks) == {"skin", "hair", "clothes"}
    assert not (masks["skin"] & masks["hair"]).any() and not (masks["skin"] & masks["clothes"]).any()
    rows = {region: np.nonzero(mask.any(axis=1))[0] for region, mask in masks.items()}
    assert all(mask.sum() >= 60 for mask in masks.values())
    # hair on top, the face below it, the clothes at the bottom
    assert rows["hair"].min() < rows["skin"].min() and np.median(rows["skin"]) < rows["clothes"].min()


def test_region_colours_read_back_the_colours_each_face_was_drawn_with():
    """Faces drawn with known skin, hair and clothes colours: each region's mean colour is nearest
    the palette entry it was drawn with, or second nearest (a mask pointing at the wrong part fails this)."""
    masks = colour_regions(32)
    table = sample_faces("fair", 12, "test", seed=3)
    exact = dict.fromkeys(PALETTES, 0)
    for i in range(12):
        # hairstyles that cover the top of the head (a bun, a scarf or a crew cut leave it to the background)
        hairstyle = HAIRSTYLES.index(("straight01", "shortWaved", "bob", "curly", "shaggy", "fro")[i % 6])
        face = {key: int(values[i]) for key, values in table.items()} | {"hat": 0, "glasses": 0, "beard": 0,
                                                                        "hairstyle": hairstyle}
        image = torch.from_numpy(render_face(face, 32).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
        found = region_colours(image, masks)
        for region, palette in PALETTES.items():
            distances = [np.linalg.norm(found[region][0].numpy() - _rgb(c)) for c in palette]
            rank = int(np.argsort(distances).tolist().index(face[KEYS[region]]))  # 0: the nearest
            assert rank <= 1, (i, region, distances)
            exact[region] += rank == 0
    # close palette entries (two dark blues, two pale skins) are sometimes swapped, by the eyes, a shirt's print
    assert all(count >= 10 for count in exact.values()), exact


class PaintedStyleGAN(StyleGAN):
    """A tiny StyleGAN whose synthesis paints every colour region with a colour read off one style
    layer (``colour_layer``): mixing that layer's style from B must give B's colours."""

    def __init__(self, colour_layer: int):
        super().__init__(latent_dim=8, w_dim=8, mapping_layers=2, image_size=32, channels=3, width=8)
        self.colour_layer = colour_layer
        self.masks = colour_regions(32)

    def synthesis(self, ws, noise_mode="const", *_, **__):
        colour = torch.tanh(3 * ws[:, self.colour_layer, :3])  # (B, 3) in [-1, 1]
        images = torch.zeros(ws.shape[0], 3, 32, 32)
        for k, mask in enumerate(self.masks.values()):
            images[:, :, torch.from_numpy(mask)] = torch.roll(colour, k, dims=1)[:, :, None]
        return images


@pytest.mark.parametrize("colour_layer, expected", [(-1, 1.0), (0, 0.0)])
def test_the_fine_from_b_colour_share_follows_the_layer_that_draws_colour(colour_layer, expected):
    """Colour drawn by the finest layer: a mix with the finest layers from B takes B's colour every
    time. Colour drawn by the coarsest layer: never. (Swapping A and B in the measure fails both.)"""
    model = PaintedStyleGAN(colour_layer).eval()
    metrics = bundle.measure_faces_stylegan(model, CHECKPOINTS, seed=5)
    for region in ("skin", "hair", "clothes"):
        assert metrics[f"mix_pairs_differing_{region}"] >= 250
        assert metrics[f"mix_fine_from_b_takes_{region}_colour"] == expected
    assert metrics["mix_pairs"] == bundle.MIX_PAIRS
    words = bundle._faces_stylegan_summary(metrics)
    assert f"skin in {100 * expected:.1f}% of {metrics['mix_pairs_differing_skin']:,} pairs" in words


def test_the_bundled_faces_stylegan_mixes_in_colour_through_the_api_and_its_card_states_each_share():
    """The style-mixing endpoint on faces-stylegan: an RGB matrix equal to the core's, and a recipe
    naming the model; the card states every mixing share config.json records."""
    import json

    from studio import api, checkpoints
    from studio.explore import mixing

    model = checkpoints.load("faces-stylegan").model
    fine = mixing.mixing_matrix(model, [0, 1], [2, 3], mixing.presets(model)["fine"])
    out = api.style_mix("faces-stylegan", rows="0, 1", columns="2, 3", crossover="fine")
    assert out.grid.ndim == 3 and out.grid.shape[2] == 3 and np.array_equal(out.grid, fine.grid())
    assert json.loads(out.recipe)["model"] == "faces-stylegan"
    assert not np.array_equal(out.grid, api.style_mix("faces-stylegan", rows="0, 1", columns="2, 3").grid)
    assert np.array_equal(api.style_mix_recipe(out.recipe).grid, out.grid)
    # a bare /style_mix_recipe draws the recipe of /style_mix's defaults (the bundled mnist-stylegan)
    assert np.array_equal(api.style_mix_recipe("").grid, api.style_mix().grid)
    metrics = json.loads((CHECKPOINTS / "faces-stylegan" / "config.json").read_text())["studio"]["metrics"]
    card = (CHECKPOINTS / "faces-stylegan" / "README.md").read_text()
    for name in bundle.FACE_PARTS:
        assert f"{name} in {100 * metrics[f'mix_coarse_from_a_keeps_{name}']:.1f}% of" in card
    for region in ("skin", "hair", "clothes"):
        assert f"{region} in {100 * metrics[f'mix_fine_from_b_takes_{region}_colour']:.1f}% of" in card


def test_feature_editing_works_on_the_faces_stylegan():
    """Editing moves z through the whole network (mapping and synthesis), so the StyleGAN edits like
    the DCGAN: the linear hat direction raises the judged hat probability of all eight seeds, and
    the endpoint reports the same success rate as the core."""
    from studio import api, checkpoints
    from studio.api.editing import edit_models
    from studio.explore import editing

    generator, judge = edit_models(checkpoints.load("faces-stylegan"))
    trajectory = editing.edit(generator, judge, range(8), "hat", 1, method="linear", steps=10)
    hat = trajectory.probabilities[:, :, judge.index("hat")]  # (T, 8)
    assert (hat[-1] > hat[0]).all() and trajectory.rates()["success"] >= 0.5
    out = api.edit("faces-stylegan", seed=0, target="hat", method="linear", steps=10, eight_seeds=True)
    assert out.rates == trajectory.rates()



def test_faces_stylegan_draws_adains_droplet_in_the_corner_and_mnist_stylegan_does_not():
    """README's faces-stylegan paragraph: AdaIN normalises each map by its own statistics, and the
    faces model learned a spike at the bottom-left pixel of its 16x16 and 32x32 maps that sets them
    (the "droplet" of Karras et al. 2020, section 2); it comes out as a white speck there."""
    from studio.checkpoints import load
    from studio.explore import mixing

    faces_model, digits_model = load("faces-stylegan").model.eval(), load("mnist-stylegan").model.eval()
    faces_peaks = mixing.adain_peaks(faces_model, n=64, seed=1)
    assert [p.resolution for p in faces_peaks] == [4, 4, 8, 8, 16, 16, 32, 32]
    assert all(p.hotspot == (p.resolution - 1, 0) and p.hotspot_share >= 0.9 for p in faces_peaks[4:])
    assert [p.layer for p in faces_peaks if p.droplet] == [6, 7]  # 29x and 57x the mean (README)
    assert min(p.peak_ratio for p in faces_peaks[6:]) >= 20 and "pixel (31, 0)" in mixing.droplet_text(faces_peaks)
    with torch.no_grad():
        faces_out = faces_model.generate(faces_model.sample_latent(256, seed=1))  # (256, 3, 32, 32) in [-1, 1]
    assert (faces_out[:, :, 31, 0].mean(0) > 0.9).all()  # white, where the data's background is light blue
    assert faces_out[:, 0, 31, 31].mean() < 0.6  # the other bottom corner is not
    digit_peaks = mixing.adain_peaks(digits_model, n=64, seed=1)
    assert not any(p.droplet for p in digit_peaks) and mixing.droplet_text(digit_peaks).startswith("No droplet")
    assert all(p.peak_ratio < 8 and p.hotspot_share < 0.25 for p in digit_peaks[4:])
