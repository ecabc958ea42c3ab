"""Cartoon faces with exact attributes, for controllable generation and bias audits.

CelebA (Liu et al. 2015), the course's face set, cannot be downloaded offline, so the studio draws
its own faces: the **avataaars** style of DiceBear (``dicebear-core`` + ``dicebear-styles``, MIT
code), rendered to PNG by resvg (``resvg-py``, a self-contained wheel). Every attribute is chosen
*before* the face is drawn, so the labels are ground truth, never estimates.

Licence and attribution of the artwork (also in every model card trained on it): Remix of
"Avataaars" (https://avataaars.com/) by Pablo Stanley, licensed under "Free for personal and
commercial use" (https://avataaars.com/), via DiceBear (https://www.dicebear.com/, MIT).

Attributes of each face:
    hat, glasses, smiling, beard, dark_skin    binary (ATTRIBUTES; dark_skin is the protected group)
    shade                                       skin tone, 0-6 from light to dark (SKIN_SHADES)
    hair                                        hair colour, an index into HAIR_COLOURS
    index                                       the face's index in its split (its identity seed)

A **world** (``World``, one dataclass per world in ``WORLDS``; add one there) sets the marginal
rates and the dependencies: ``biased`` puts glasses on most hat wearers (the course's hat-and-
glasses example) and makes light-skinned faces smile more often; ``fair`` has the same marginal
rates with every attribute independent. ``World.correlation(a, b)`` is the exact value.

Faces are a pure function of (world, split, seed, index, image size), rendered once into the
user's cache (``studio.cache``: ``$GAN_STUDIO_CACHE/faces``, by default ``~/.cache/gan-studio/faces``)
with a progress bar: about 3-6 ms a face on one core.

    from studio.data.faces import faces
    data = faces("biased", n=10000, image_size=32)     # .images (N, 3, S, S), .targets (N, 5)
    data.attributes["hat"], data.attributes["shade"]   # numpy arrays, exact
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from studio.cache import cache_dir
from studio.data.mnist import ImageTensorDataset
from studio.errors import DataError

ATTRIBUTES = ("hat", "glasses", "smiling", "beard", "dark_skin")
# avataaars' seven skin colours, light to dark; the last three are the "dark" group
SKIN_SHADES = ("ffdbb4", "edb98a", "f8d25c", "fd9841", "d08b5b", "ae5d29", "614335")
DARK_SHADES = (4, 5, 6)
HAIR_COLOURS = {"black": "2c1b18", "brown": "724133", "auburn": "a55728", "blonde": "d6b370", "red": "c93305",
                "grey": "e8e1e1"}
IMAGE_SIZES = (32, 64, 128)
SPLIT_STREAMS = {"train": 0, "test": 1}
DEFAULT_N = {"train": 10000, "test": 2000}
ATTRIBUTION = ('Faces: remix of "Avataaars" (https://avataaars.com/) by Pablo Stanley, "Free for personal and '
               'commercial use", drawn with DiceBear (MIT) and resvg.')

# Which avataaars parts draw each attribute. Light hats and glasses are avoided: at 32 px a white
# hat on the pale background, or thin pink frames, would be invisible, and the labels must be seen.
HATS = ("hat", "winterHat1", "winterHat02", "winterHat03", "winterHat04")
HAIRSTYLES = ("bob", "bun", "curly", "curvy", "dreads", "frida", "fro", "longButNotTooLong", "miaWallace",
              "shaggy", "shavedSides", "shortCurly", "shortFlat", "shortRound", "shortWaved", "sides",
              "straight01", "straight02", "theCaesar", "theCaesarAndSidePart")
GLASSES = ("kurt", "prescription02", "round", "sunglasses", "wayfarers")
SMILES, NOT_SMILES = ("smile", "twinkle"), ("serious", "concerned", "sad", "disbelief")
BEARDS = ("beardLight", "beardMedium", "beardMajestic")
EYES = ("default", "side", "squint", "surprised")
EYEBROWS = ("default", "defaultNatural", "flatNatural", "raisedExcited", "upDownNatural")
CLOTHES = ("blazerAndShirt", "blazerAndSweater", "collarAndSweater", "graphicShirt", "hoodie", "overall",
           "shirtCrewNeck", "shirtScoopNeck", "shirtVNeck")
STRONG_COLOURS = ("262e33", "5199e4", "25557c", "3c4f5c", "ff488e", "ff5c5c", "65c9ff", "929598")
BACKGROUND = "b6e3f4"
RENDER_VERSION = 1  # bump when the drawing changes: the cache key includes it


@dataclass(frozen=True)
class World:
    """The rates of one world. Attributes are drawn in this order (a small Bayesian network):

        dark_skin ~ Bernoulli(p_dark)                      shade: uniform within the group
        hat ~ Bernoulli(p_hat)
        glasses | hat ~ Bernoulli(p_glasses_hat if hat else p_glasses_no_hat)
        smiling | dark_skin ~ Bernoulli(p_smiling_dark if dark_skin else p_smiling_light)
        beard ~ Bernoulli(p_beard)                         hair ~ Categorical(hair_weights)
    """

    name: str
    description: str
    p_dark: float = 0.4
    p_hat: float = 0.3
    p_glasses_hat: float = 0.28
    p_glasses_no_hat: float = 0.28
    p_smiling_light: float = 0.48
    p_smiling_dark: float = 0.48
    p_beard: float = 0.25
    hair_weights: tuple[float, ...] = (0.3, 0.25, 0.15, 0.15, 0.05, 0.1)

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise DataError(f"world {self.name!r}: {field.name} must be a probability, got {value!r}")
        if len(self.hair_weights) != len(HAIR_COLOURS) or min(self.hair_weights) < 0 or sum(self.hair_weights) <= 0:
            raise DataError(f"world {self.name!r}: hair_weights needs {len(HAIR_COLOURS)} non-negative weights")

    def key(self) -> str:
        """A short hash of every rate: the cache never mixes two versions of a world."""
        return hashlib.sha1(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:10]

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` draws of every attribute (int64 arrays), vectorised, in a fixed order."""
        u = rng.random((n, 5))
        dark = u[:, 0] < self.p_dark
        hat = u[:, 1] < self.p_hat
        glasses = u[:, 2] < np.where(hat, self.p_glasses_hat, self.p_glasses_no_hat)
        smiling = u[:, 3] < np.where(dark, self.p_smiling_dark, self.p_smiling_light)
        beard = u[:, 4] < self.p_beard
        light_shades = [s for s in range(len(SKIN_SHADES)) if s not in DARK_SHADES]
        shade = np.where(dark, rng.choice(DARK_SHADES, n), rng.choice(light_shades, n))
        weights = np.asarray(self.hair_weights, dtype=float)
        hair = rng.choice(len(HAIR_COLOURS), n, p=weights / weights.sum())
        out = {"hat": hat, "glasses": glasses, "smiling": smiling, "beard": beard, "dark_skin": dark}
        out = {k: v.astype(np.int64) for k, v in out.items()}
        return {**out, "shade": shade.astype(np.int64), "hair": hair.astype(np.int64)}

    def joint(self) -> tuple[np.ndarray, np.ndarray]:
        """The exact joint law of the binary ATTRIBUTES: (32, 5) 0/1 rows and their probabilities."""
        rows = np.array([[(k >> j) & 1 for j in range(len(ATTRIBUTES))] for k in range(2 ** len(ATTRIBUTES))])
        hat, glasses, smiling, beard, dark = rows.T

        def bern(x, p):
            return np.where(x == 1, p, 1 - p)

        prob = (bern(dark, self.p_dark) * bern(hat, self.p_hat)
                * bern(glasses, np.where(hat == 1, self.p_glasses_hat, self.p_glasses_no_hat))
                * bern(smiling, np.where(dark == 1, self.p_smiling_dark, self.p_smiling_light))
                * bern(beard, self.p_beard))
        return rows, prob

    def rate(self, attribute: str) -> float:
        rows, prob = self.joint()
        return float(prob @ rows[:, attribute_index(attribute)])

    def correlation(self, a: str, b: str) -> float:
        """The exact Pearson (phi) correlation of two binary attributes in this world."""
        rows, prob = self.joint()
        x, y = rows[:, attribute_index(a)], rows[:, attribute_index(b)]
        mx, my = prob @ x, prob @ y
        cov = prob @ (x * y) - mx * my
        denominator = np.sqrt(mx * (1 - mx) * my * (1 - my))
        return float(cov / denominator) if denominator > 0 else 0.0

    def correlations(self) -> np.ndarray:
        """(5, 5) exact correlation matrix over ATTRIBUTES."""
        return np.array([[self.correlation(a, b) for b in ATTRIBUTES] for a in ATTRIBUTES])


WORLDS: dict[str, World] = {
    world.name: world
    for world in [
        World("biased", "hat wearers mostly wear glasses (70% against 10%); light-skinned faces smile more "
                        "often (60%) than dark-skinned ones (30%)",
              p_glasses_hat=0.7, p_glasses_no_hat=0.1, p_smiling_light=0.6, p_smiling_dark=0.3),
        # the same marginal rates as "biased" (glasses 28%, smiling 48%), every attribute independent
        World("fair", "the marginal rates of 'biased' (glasses 28%, smiling 48%), every attribute independent"),
    ]
}


def attribute_index(name: str) -> int:
    if name not in ATTRIBUTES:
        raise DataError(f"unknown attribute {name!r}: choose one of {', '.join(ATTRIBUTES)}")
    return ATTRIBUTES.index(name)


def get_world(world: str | World) -> World:
    if isinstance(world, World):
        return world
    if world not in WORLDS:
        raise DataError(f"unknown world {world!r}: choose one of {', '.join(WORLDS)}")
    return WORLDS[world]


# ----------------------------------------------------------------------------- drawing


def draw_style(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """What does not carry a label (hair style, clothes, eyes, colours): drawn after the labels."""
    return {
        "hat_style": rng.integers(len(HATS), size=n), "hat_colour": rng.integers(len(STRONG_COLOURS), size=n),
        "hairstyle": rng.integers(len(HAIRSTYLES), size=n), "glasses_style": rng.integers(len(GLASSES), size=n),
        "mouth": rng.integers(len(SMILES) * len(NOT_SMILES), size=n), "beard_style": rng.integers(len(BEARDS), size=n),
        "eyes": rng.integers(len(EYES), size=n), "eyebrows": rng.integers(len(EYEBROWS), size=n),
        "clothes": rng.integers(len(CLOTHES), size=n), "clothes_colour": rng.integers(len(STRONG_COLOURS), size=n),
    }


def face_options(face: dict) -> dict:
    """DiceBear avataaars options for one face (a dict of ints: labels and style choices)."""
    hair_colour = list(HAIR_COLOURS.values())[int(face["hair"])]
    options = {
        "seed": f"face-{int(face.get('index', 0))}",  # only for parts not fixed here (shirt graphics)
        "backgroundColor": [BACKGROUND],
        "skinColor": [SKIN_SHADES[int(face["shade"])]],
        "hairColor": [hair_colour],
        "facialHairColor": [hair_colour],
        "topVariant": HATS[int(face["hat_style"])] if face["hat"] else HAIRSTYLES[int(face["hairstyle"])],
        "hatColor": [STRONG_COLOURS[int(face["hat_colour"])]],
        "topProbability": 100,
        "accessoriesProbability": 100 if face["glasses"] else 0,
        "accessoriesVariant": GLASSES[int(face["glasses_style"])],
        "accessoriesColor": ["262e33"],
        "mouthVariant": (SMILES[int(face["mouth"]) % len(SMILES)] if face["smiling"]
                         else NOT_SMILES[int(face["mouth"]) % len(NOT_SMILES)]),
        "facialHairProbability": 100 if face["beard"] else 0,
        "facialHairVariant": BEARDS[int(face["beard_style"])],
        "eyesVariant": EYES[int(face["eyes"])],
        "eyebrowsVariant": EYEBROWS[int(face["eyebrows"])],
        "clothesVariant": CLOTHES[int(face["clothes"])],
        "clothesColor": [STRONG_COLOURS[int(face["clothes_colour"])]],
    }
    return options


@lru_cache(maxsize=1)
def _style():
    import importlib.resources

    try:
        from dicebear import Style
    except ImportError as error:  # pragma: no cover - requirements.txt installs it
        raise DataError("the faces need dicebear-core and dicebear-styles: pip install -r requirements.txt") from error
    definition = json.loads((importlib.resources.files("dicebear_styles") / "avataaars.json").read_text())
    return Style(definition)


def render_face(face: dict, image_size: int = 64) -> np.ndarray:
    """One face as (image_size, image_size, 3) uint8 RGB."""
    import resvg_py
    from dicebear import Avatar
    from PIL import Image

    svg = Avatar(_style(), face_options(face)).to_string()
    png = resvg_py.svg_to_bytes(svg_string=svg, width=image_size, height=image_size)
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB"))


def _render_chunk(args: tuple[list[dict], int]) -> np.ndarray:
    faces_, image_size = args
    return np.stack([render_face(face, image_size) for face in faces_])


def sample_faces(world: str | World, n: int, split: str = "train", seed: int = 0) -> dict[str, np.ndarray]:
    """Labels and style choices of ``n`` faces: a pure function of (world, n, split, seed);
    face i is the same whatever ``n`` (attributes are drawn in blocks of 1,024)."""
    world = get_world(world)
    if split not in SPLIT_STREAMS:
        raise DataError(f"faces: split must be one of {', '.join(SPLIT_STREAMS)}, got {split!r}")
    blocks = []
    for block in range((n + 1023) // 1024):
        rng = np.random.default_rng([int(seed), SPLIT_STREAMS[split], block])
        blocks.append({**world.sample(1024, rng), **draw_style(1024, rng)})
    table = {key: np.concatenate([b[key] for b in blocks])[:n] for key in blocks[0]} if blocks else {}
    table["index"] = np.arange(n, dtype=np.int64)
    return table


def render_faces(table: dict[str, np.ndarray], image_size: int, *, workers: int | None = None,
                 progress: bool = True) -> np.ndarray:
    """(N, S, S, 3) uint8 for a table from ``sample_faces``, on ``workers`` processes."""
    from tqdm import tqdm

    n = len(table["index"])
    rows = [{key: int(values[i]) for key, values in table.items()} for i in range(n)]
    chunks = [(rows[i : i + 256], image_size) for i in range(0, n, 256)]
    workers = workers or min(len(chunks), os.cpu_count() or 1)
    bar = tqdm(total=n, unit="face", desc=f"drawing faces at {image_size} px", disable=not progress)
    parts = []
    if workers <= 1 or len(chunks) == 1:
        for chunk in chunks:
            parts.append(_render_chunk(chunk))
            bar.update(len(chunk[0]))
    else:
        with ProcessPoolExecutor(workers) as pool:
            for chunk, part in zip(chunks, pool.map(_render_chunk, chunks)):
                parts.append(part)
                bar.update(len(chunk[0]))
    bar.close()
    return np.concatenate(parts) if parts else np.zeros((0, image_size, image_size, 3), np.uint8)


class FacesDataset(ImageTensorDataset):
    """Faces as (3, S, S) float32 in [-1, 1] with ``targets`` (N, 5) float 0/1 (ATTRIBUTES, multi-label)
    and ``attributes``, a dict of exact numpy labels (also ``shade``, ``hair``, ``index``)."""

    def __init__(self, pixels: np.ndarray, table: dict[str, np.ndarray], world: World, split: str):
        images = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1)
        self.images = images.contiguous()  # (N, 3, S, S)
        self.targets = torch.from_numpy(np.stack([table[a] for a in ATTRIBUTES], axis=1)).float()  # (N, 5)
        self.classes = list(ATTRIBUTES)
        self.attributes = {key: np.asarray(values) for key, values in table.items()}
        self.world, self.split = world, split
        self.name = f"faces:{world.name}:{split}"

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.targets[index]

    def pixels(self, index: int) -> np.ndarray:
        """Face ``index`` as (S, S, 3) uint8, for display."""
        return ((self.images[index].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()


def faces(world: str | World = "biased", n: int | None = None, image_size: int = 64, split: str = "train",
          seed: int = 0, *, cache: bool = True, progress: bool = True) -> FacesDataset:
    """``n`` faces of ``world`` (default 10,000 train / 2,000 test), drawn once and cached.

    Split "train" and "test" use different random streams, so they are different faces.
    """
    world = get_world(world)
    if split == "all":  # the engine's default split: the training faces
        split = "train"
    if isinstance(image_size, bool) or image_size not in IMAGE_SIZES:
        raise DataError(f"faces: image_size must be one of {', '.join(map(str, IMAGE_SIZES))}, got {image_size!r}")
    if split not in SPLIT_STREAMS:
        raise DataError(f"faces: split must be 'train' or 'test', got {split!r}")
    n = DEFAULT_N[split] if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 200_000:
        raise DataError(f"faces: n must be an integer from 1 to 200,000, got {n!r}")
    table = sample_faces(world, n, split, seed)
    path = cache_dir("faces") / f"{world.name}-{world.key()}-{split}-s{seed}-n{n}-{image_size}px-v{RENDER_VERSION}.npz"
    pixels = None
    if cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                pixels = stored["pixels"]
        except (OSError, ValueError, KeyError):
            pixels = None  # a damaged cache file is drawn again
        if pixels is not None and pixels.shape != (n, image_size, image_size, 3):
            pixels = None
    if pixels is None:
        pixels = render_faces(table, image_size, progress=progress)
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(partial, pixels=pixels)
            partial.replace(path)
    return FacesDataset(pixels, table, world, split)


def faces_fair(n: int | None = None, image_size: int = 64, split: str = "train", seed: int = 0) -> FacesDataset:
    """Faces of the fair world (the engine's dataset ``faces_fair``; ``faces`` is the biased world)."""
    return faces("fair", n=n, image_size=image_size, split=split, seed=seed)


def label_correlations(table: dict[str, np.ndarray]) -> np.ndarray:
    """(5, 5) Pearson correlations of the binary ATTRIBUTES in a table of labels or predictions."""
    matrix = np.stack([np.asarray(table[a], dtype=float) for a in ATTRIBUTES], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(matrix, rowvar=False)
    return np.nan_to_num(corr)


# ----------------------------------------------------------------------------- colour regions

# Two far-apart choices per region: the pixels that change between them are that region's
_REGION_CHANGES = {"skin": ("shade", 0, 6), "hair": ("hair", 0, 5), "clothes": ("clothes_colour", 1, 4)}
COLOUR_REGIONS = tuple(_REGION_CHANGES)  # ("skin", "hair", "clothes")


@lru_cache(maxsize=4)
def colour_regions(image_size: int = 32, n: int = 48) -> dict[str, np.ndarray]:
    """Where the skin, the hair and the clothes usually are: (S, S) bool masks, exact from the drawing.

    Each of ``n`` hatless, beardless, glassless test faces is drawn twice with one colour changed
    (skin shade 0 / 6, hair black / grey, clothes two far-apart colours); a pixel belongs to the
    region when it changes in at least 70% of the faces, and in no other region. Style mixing is
    judged with these: does a mix take its skin, hair and clothes colours from A or from B?
    """
    table = sample_faces("fair", n, "test", seed=7)
    table.update(hat=np.zeros(n, np.int64), glasses=np.zeros(n, np.int64), beard=np.zeros(n, np.int64))
    masks = {}
    for region, (key, first, second) in _REGION_CHANGES.items():
        counts = np.zeros((image_size, image_size))
        for i in range(n):
            face = {k: int(v[i]) for k, v in table.items()}
            a = render_face({**face, key: first}, image_size).astype(float)
            b = render_face({**face, key: second}, image_size).astype(float)
            counts += np.abs(a - b).max(axis=2) > 24
        masks[region] = counts >= 0.7 * n
    shared = sum(mask.astype(int) for mask in masks.values()) > 1  # e.g. long hair over the cheeks
    return {region: mask & ~shared for region, mask in masks.items()}


def region_colours(images: torch.Tensor, masks: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Mean RGB of each region: images (B, 3, S, S) in [-1, 1] -> {region: (B, 3)} in [0, 1]."""
    x = (images.float().clamp(-1, 1) + 1) / 2
    return {region: x[:, :, torch.from_numpy(mask)].mean(dim=2) for region, mask in masks.items()}
