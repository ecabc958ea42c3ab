"""Procedural satellite/map tile pairs: a bundled stand-in for the pix2pix "maps" set.

Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks" (CVPR 2017)
trained on aerial photos of New York paired with their Google Maps tiles. That set is not
bundled (250 MB), so this module draws the same kind of pair from a seed: one city layout
(street grid, major roads, blocks with buildings, parks, water, rail) rendered twice,
(a) as a web-map tile in the flat palette ``MAP_PALETTE`` and (b) as an aerial photo made of
the photographs bundled with scikit-image (grass, gravel, brick) with lit and shaded roof
faces, cast shadows, trees, cars and camera noise. The map is an exact function of the layout,
so ``map_classes`` turns any map tile (generated or translated) into per-pixel class ids.
Everything is vectorised numpy: about 30 ms per 256x256 pair on one CPU core, 3 ms at 64.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from studio.errors import DataError

# Web-map colours (OpenStreetMap/Google-like). The order of the keys is the class id.
MAP_PALETTE: dict[str, tuple[int, int, int]] = {
    "background": (242, 239, 233),
    "park": (197, 232, 176),
    "water": (170, 210, 236),
    "building": (216, 210, 202),
    "rail": (150, 150, 156),
    "road_outline": (190, 190, 190),
    "road_minor": (255, 255, 255),
    "road_major": (253, 226, 147),
}
MAP_CLASSES: tuple[str, ...] = tuple(MAP_PALETTE)
_PALETTE = np.array(list(MAP_PALETTE.values()), dtype=np.uint8)  # (K, 3)
BACKGROUND, PARK, WATER, BUILDING, RAIL, OUTLINE, MINOR, MAJOR = range(len(MAP_CLASSES))

# Materials of the aerial photo: (base RGB, texture name, pyramid level at 256 px, contrast).
YARD, CONCRETE, LAWN, POND, ROOF, FLAT_ROOF, ASPHALT, SIDEWALK, BALLAST, PARKING = range(10)
_MATERIALS = [
    ((104, 116, 74), "grass", 2, 0.22),  # YARD
    ((156, 153, 146), "gravel", 2, 0.10),  # CONCRETE
    ((94, 118, 68), "grass", 2, 0.20),  # LAWN
    ((46, 74, 86), "gravel", 3, 0.03),  # POND
    ((0, 0, 0), "brick", 2, 0.12),  # ROOF: roof colours come per building
    ((0, 0, 0), "gravel", 2, 0.06),  # FLAT_ROOF
    ((82, 84, 88), "gravel", 1, 0.08),  # ASPHALT
    ((176, 173, 166), "gravel", 2, 0.06),  # SIDEWALK
    ((112, 102, 92), "gravel", 0, 0.30),  # BALLAST
    ((96, 97, 100), "gravel", 1, 0.08),  # PARKING
]
_MATERIAL_RGB = np.array([m[0] for m in _MATERIALS], dtype=np.float32)
_HOUSE_ROOFS = np.array([(150, 82, 62), (120, 96, 80), (84, 84, 90), (96, 104, 114),
                         (170, 160, 150), (136, 70, 56)], dtype=np.float32)
_TOWER_ROOFS = np.array([(188, 186, 180), (212, 210, 204), (120, 120, 122), (164, 152, 136),
                         (146, 150, 154)], dtype=np.float32)
_CARS = np.array([(215, 215, 215), (36, 36, 40), (150, 152, 156), (150, 40, 36),
                  (42, 62, 112), (90, 90, 94)], dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _texture_pyramids() -> dict[str, list[np.ndarray]]:
    """Zero-mean, unit-variance pyramids of skimage's bundled photos (no download involved)."""
    from skimage import data  # deferred so importing studio.data stays cheap

    pyramids = {}
    for name in ("grass", "gravel", "brick"):
        level = getattr(data, name)().astype(np.float32)  # (512, 512)
        levels = []
        for _ in range(6):
            levels.append((level - level.mean()) / (level.std() + 1e-6))
            level = 0.25 * (level[::2, ::2] + level[1::2, ::2] + level[::2, 1::2] + level[1::2, 1::2])
        pyramids[name] = levels
    return pyramids


def _texture(rng: np.random.Generator, name: str, level: int, size: int) -> np.ndarray:
    """A random (size, size) window of a texture, mirror-tiled so no seam shows."""
    tex = _texture_pyramids()[name][min(level, 5)]
    if rng.random() < 0.5:
        tex = tex.T
    period = 2 * tex.shape[0]
    index = []
    for _ in range(2):
        i = (np.arange(size) + rng.integers(period)) % period
        index.append(np.where(i < tex.shape[0], i, period - 1 - i))
    return tex[index[0]][:, index[1]]


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise with about `cells` bumps across the tile, roughly unit variance."""
    grid = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    t = np.linspace(0, cells, size, dtype=np.float32)
    i = np.minimum(t.astype(np.int64), cells - 1)
    w = t - i
    w = w * w * (3 - 2 * w)  # smoothstep hides the bilinear creases
    rows = grid[i] * (1 - w)[:, None] + grid[i + 1] * w[:, None]  # (S, cells+1)
    return rows[:, i] * (1 - w) + rows[:, i + 1] * w


@functools.lru_cache(maxsize=8)
def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    return yy, xx


def _street_grid(rng, f, yy, xx):
    """A (possibly curved) rotated street grid with dropped segments and one or two major lines."""
    theta = rng.uniform(-np.pi / 4, np.pi / 4)
    c, s = float(np.cos(theta)), float(np.sin(theta))  # Python floats keep the arrays float32
    u = xx * c + yy * s
    v = -xx * s + yy * c
    if rng.random() < 0.4:  # older districts: streets bend with the terrain
        u = u + rng.uniform(4, 14) * f * np.sin(v / (rng.uniform(30, 60) * f) + rng.uniform(0, 6.3))
        v = v + rng.uniform(3, 10) * f * np.sin(u / (rng.uniform(30, 60) * f) + rng.uniform(0, 6.3))
    pitch = (rng.uniform(50, 86) * f, rng.uniform(38, 64) * f)
    g = {"u": (u - rng.uniform(0, pitch[0])) / pitch[0], "v": (v - rng.uniform(0, pitch[1])) / pitch[1]}
    cell, frac = {}, {}
    for axis in "uv":
        cell[axis] = np.floor(g[axis]).astype(np.int64)
        frac[axis] = g[axis] - cell[axis]
        cell[axis] -= cell[axis].min()
    n_lines = {axis: int(cell[axis].max()) + 2 for axis in "uv"}
    hw_minor, hw_major = max(1.0, rng.uniform(2.4, 3.4) * f), max(1.6, rng.uniform(4.2, 5.8) * f)
    drop = rng.uniform(0.0, 0.25)
    half_width, keep = {}, {}
    for axis, other, p_major in (("u", "v", 0.6), ("v", "u", 0.5)):
        half_width[axis] = np.full(n_lines[axis], hw_minor, dtype=np.float32)
        if rng.random() < p_major:
            half_width[axis][rng.integers(1, n_lines[axis] - 1)] = hw_major
        # keep[axis][line, segment]: the segment of this line between two lines of the other axis
        keep[axis] = rng.random((n_lines[axis], n_lines[other])) > drop
        keep[axis][half_width[axis] > hw_minor] = True
    out = {"theta": theta, "pitch": pitch, "cell": cell, "hw_minor": hw_minor, "hw_major": hw_major}
    edge = {"minor": np.full(yy.shape, np.inf, np.float32), "major": np.full(yy.shape, np.inf, np.float32)}
    for axis, other, length in (("u", "v", pitch[0]), ("v", "u", pitch[1])):
        near = cell[axis] + (frac[axis] > 0.5)
        centre = np.minimum(frac[axis], 1 - frac[axis]) * length  # distance to the nearest line
        width = half_width[axis][near]
        e = np.where(keep[axis][near, cell[other]], centre - width, np.inf)
        is_major = width > hw_minor
        edge["minor"] = np.minimum(edge["minor"], np.where(is_major, np.inf, e))
        edge["major"] = np.minimum(edge["major"], np.where(is_major, e, np.inf))
        out[f"edge_{axis}"] = e
        out[f"centre_{axis}"] = np.where(is_major, centre, np.inf)  # lane marks on major lines only
        # Half widths of the two streets bounding this block along `axis` (0 where dropped).
        lo, hi = cell[axis], cell[axis] + 1
        out[f"bound_{axis}"] = (np.where(keep[axis][lo, cell[other]], half_width[axis][lo], 0),
                                np.where(keep[axis][hi, cell[other]], half_width[axis][hi], 0))
        out[f"pos_{axis}"] = frac[axis] * length  # position inside the block
    out["along_u"], out["along_v"] = g["v"] * pitch[1], g["u"] * pitch[0]
    out.update(edge)
    return out


def _band(rng, f, yy, xx, size, angle, bend):
    """Signed distance across, and distance along, a gently curving line through the tile."""
    py, px = (rng.uniform(0.2, 0.8, 2) * size).tolist()
    c, s = float(np.cos(angle)), float(np.sin(angle))
    along = (xx - px) * c + (yy - py) * s
    across = -(xx - px) * s + (yy - py) * c
    return across - bend * f * np.sin(along / (rng.uniform(50, 120) * f) + rng.uniform(0, 6.3)), along


def _lots(rng, f, grid, urban):
    """Building footprints: each block is cut into up to 4x4 lots holding one inset rectangle each."""
    n_v = int(grid["cell"]["v"].max()) + 1
    block = grid["cell"]["u"] * n_v + grid["cell"]["v"]  # (S, S) flat block index
    nb = (int(grid["cell"]["u"].max()) + 1) * n_v
    block_urban = rng.random(nb) < urban
    kind = np.where(rng.random(nb) < rng.uniform(0.04, 0.2), 1, 0)  # 1: park
    kind[block_urban & (kind == 0) & (rng.random(nb) < 0.25)] = 2  # 2: one building round a courtyard
    setback = np.where(block_urban, 2.5, 4.5)[block] * f  # sidewalk, plus a front yard in suburbs
    lot = np.zeros(block.shape, np.int64)
    inside = np.ones(block.shape, bool)
    local, extent = [], []
    for axis, length in zip("uv", grid["pitch"]):
        target = np.where(block_urban, rng.uniform(28, 52, nb), rng.uniform(16, 22, nb)) * f
        count = np.clip(np.round(length / target), 1, 4).astype(np.int64)
        count[kind == 2] = 1
        lo = grid[f"bound_{axis}"][0] + setback
        span = length - grid[f"bound_{axis}"][1] - setback - lo
        size = np.maximum(span / count[block], 1e-3)
        pos = grid[f"pos_{axis}"] - lo
        index = np.clip(np.floor(pos / size), 0, count[block] - 1).astype(np.int64)
        lot = lot * 4 + index
        local.append(pos - index * size)
        extent.append(size)
        inside &= (pos > 0) & (pos < span)
    lot_id = block * 16 + lot  # (S, S) unique per lot
    lot_urban = block_urban.repeat(16)
    # Margins as fractions of the lot: terraced in town, detached houses with gardens outside.
    margin = (np.where(lot_urban, 0.02, 0.12)[:, None]
              + rng.random((nb * 16, 4)) * np.where(lot_urban, 0.1, 0.16)[:, None])
    box = []
    for k in range(2):
        x0 = margin[lot_id, 2 * k] * extent[k]
        x1 = extent[k] * (1 - margin[lot_id, 2 * k + 1])
        inside &= (local[k] > x0) & (local[k] < x1)
        box.append((local[k] - x0, x1 - x0))  # (position inside the footprint, footprint length)
    has = (rng.random(nb * 16) < np.where(lot_urban, 0.85, 0.9)) & (kind.repeat(16) != 1)
    courtyard = kind[block] == 2
    for x, w in box:
        courtyard &= (x > 0.3 * w) & (x < 0.7 * w)
    building = inside & has[lot_id] & ~courtyard
    empty_lot = inside & (kind[block] == 0) & ~has[lot_id] & block_urban[block]
    return {"block": block, "kind": kind, "urban": block_urban, "lot_id": lot_id, "lot_urban": lot_urban,
            "building": building, "box": box, "empty_lot": empty_lot}


def _blobs(rng, size, cell, allowed, radius, overlap=True, square=False):
    """Round blobs on a jittered grid (trees, cars, rooftop units), placed where `allowed` says.

    One candidate blob per grid cell, its centre kept 0.15 cell from the cell's borders. With
    overlap, radii up to 0.6 cell spill into neighbouring cells, yet a blob two cells away stays
    0.65 cell off, so each pixel only tests the 2x2 cells nearest to it. Returns coverage q
    (q > 0 inside, 1 at the centre), the offsets (dy, dx) of each pixel from the centre of the blob
    covering it best, that blob's radius and its index.
    """
    assert radius[1] <= (0.6 if overlap else 0.5) * cell
    yy, xx = _pixel_grid(size)
    n = int(np.ceil(size / cell)) + 2
    jitter = (0.15, 0.85) if overlap else (radius[1] / cell, 1 - radius[1] / cell)
    cy = (np.arange(n)[:, None] - 1 + rng.uniform(*jitter, (n, n))) * cell
    cx = (np.arange(n)[None, :] - 1 + rng.uniform(*jitter, (n, n))) * cell
    centre_p = allowed[np.clip(cy.astype(np.int64), 0, size - 1), np.clip(cx.astype(np.int64), 0, size - 1)]
    r = np.where(rng.random((n, n)) < centre_p, rng.uniform(*radius, (n, n)), 1e-3)
    table = np.stack([cy, cx, r], -1).astype(np.float32).reshape(-1, 3)  # (n*n, 3)
    pos = (np.arange(size) + 0.5) / cell
    own = pos.astype(np.int64) + 1
    candidates = [own - (pos % 1 < 0.5), own + (pos % 1 >= 0.5)] if overlap else [own]
    best_q = np.full((size, size), -np.inf, np.float32)
    best = np.zeros((size, size), np.int64)
    for rows in candidates:
        for cols in candidates:
            index = rows[:, None] * n + cols[None, :]  # (S, S)
            t = table[index]  # (S, S, 3)
            dy, dx = yy - t[..., 0], xx - t[..., 1]
            if square:
                q = 1 - np.maximum(np.abs(dy), np.abs(dx)) / t[..., 2]
            else:
                q = 1 - (dy * dy + dx * dx) / (t[..., 2] * t[..., 2])
            if not overlap:
                return q, dy, dx, t[..., 2], index
            better = q > best_q
            best_q = np.where(better, q, best_q)
            best = np.where(better, index, best)
    t = table[best]
    return best_q, yy - t[..., 0], xx - t[..., 1], t[..., 2], best


def _cast_shadows(height, direction, longest):
    """Pixels in shadow: some object up-sun of them rises above the sun ray grazing them."""
    size = height.shape[0]
    shadow = np.zeros(height.shape, bool)
    done = set()
    for t in np.arange(1.0, longest + 1.0, 0.7):
        dy, dx = int(round(t * direction[1])), int(round(t * direction[0]))
        if (dy, dx) in done or max(abs(dy), abs(dx)) >= size:
            continue
        done.add((dy, dx))
        dst = (slice(max(dy, 0), size + min(dy, 0)), slice(max(dx, 0), size + min(dx, 0)))
        src = (slice(max(-dy, 0), size - max(dy, 0)), slice(max(-dx, 0), size - max(dx, 0)))
        shadow[dst] |= height[src] - np.hypot(dy, dx) > height[dst]
    return shadow


def _layout(rng, size):
    """The city: street grid, avenue, water, rail, lots; every mask the two renderings share."""
    f = size / 256  # every length below is in pixels of a 256 tile, scaled by f
    yy, xx = _pixel_grid(size)
    urban = rng.uniform(0, 1)
    grid = _street_grid(rng, f, yy, xx)
    minor, major = grid["minor"], grid["major"]
    arterial = None
    if rng.random() < 0.35:  # a diagonal avenue across the grid
        angle = grid["theta"] + rng.choice([-1, 1]) * rng.uniform(0.5, 1.0)
        across, along = _band(rng, f, yy, xx, size, angle, bend=rng.uniform(0, 12))
        arterial = (np.abs(across), along)
        major = np.minimum(major, arterial[0] - grid["hw_major"])
    water = np.zeros((size, size), bool)
    kind = rng.random()
    if kind < 0.3:  # a river with wobbly banks
        across, _ = _band(rng, f, yy, xx, size, rng.uniform(0, np.pi), bend=rng.uniform(5, 25))
        water = np.abs(across) < (rng.uniform(10, 26) + 3 * _smooth_noise(rng, size, 6)) * f
    elif kind < 0.45:  # a lake, possibly only partly in the tile
        cy, cx = rng.uniform(0, size, 2).tolist()
        a, b = (rng.uniform(0.2, 0.45, 2) * size).tolist()
        water = ((yy - cy) / a) ** 2 + ((xx - cx) / b) ** 2 + 0.35 * _smooth_noise(rng, size, 4) < 1
    minor = np.where(water, np.inf, minor)  # streets end at the shore; major roads bridge it
    road = np.minimum(minor, major)  # < 0 on a carriageway, else the distance to its edge
    rail = None
    if rng.random() < 0.2:
        angle = grid["theta"] + rng.choice([0, np.pi / 2]) + rng.uniform(-0.3, 0.3)
        rail = np.abs(_band(rng, f, yy, xx, size, angle, bend=rng.uniform(0, 6))[0])

    lots = _lots(rng, f, grid, urban)
    shore = np.zeros_like(water)
    if water.any():
        band = int(rng.uniform(6, 16) * f) * 2 + 1 if rng.random() < 0.6 else int(4 * f) * 2 + 1
        shore = (ndimage.uniform_filter(water.astype(np.float32), band) > 1e-3) & ~water
    # Whole buildings give way to what cuts across the grid: avenue, rail line, water and its banks.
    blocked = (road < 2 * f) | water | shore
    if rail is not None:
        blocked |= rail < 6 * f
    building = lots["building"] & ~np.isin(lots["lot_id"], np.unique(lots["lot_id"][lots["building"] & blocked]))
    sidewalk = 2.2 * f
    park = ((lots["kind"][lots["block"]] == 1) | shore) & (road >= sidewalk) & ~water & ~building
    return {"size": size, "f": f, "urban": urban, "grid": grid, "minor": minor, "major": major, "road": road,
            "arterial": arterial, "water": water, "rail": rail, "lots": lots, "building": building,
            "park": park, "sidewalk": sidewalk}


def _render_map(scene):
    """The web map: flat palette colours, later layers drawn over earlier ones."""
    f = scene["f"]
    labels = np.zeros(scene["road"].shape, np.uint8)
    labels[scene["park"]] = PARK
    labels[scene["water"]] = WATER
    labels[scene["building"]] = BUILDING
    if scene["rail"] is not None:
        labels[scene["rail"] < max(1.0, 1.6 * f)] = RAIL
    labels[(scene["road"] >= 0) & (scene["road"] < max(1.0, 1.3 * f))] = OUTLINE
    labels[scene["minor"] < 0] = MINOR
    labels[scene["major"] < 0] = MAJOR
    return _PALETTE[labels]


def _materials(rng, scene):
    """Per-pixel material ids and per-lot roof attributes of the aerial photo."""
    lots, building, f = scene["lots"], scene["building"], scene["f"]
    n_lots = int(lots["lot_id"].max()) + 1
    roof_kind = np.where(lots["lot_urban"][:n_lots], rng.choice(3, n_lots, p=[0.1, 0.05, 0.85]),
                         rng.choice(3, n_lots, p=[0.55, 0.35, 0.1]))  # 0 hip, 1 gable, 2 flat
    (_, wu), (_, wv) = lots["box"]
    big = np.zeros(n_lots, bool)
    big[lots["lot_id"][building & (wu * wv > (26 * f) ** 2)]] = True
    roof_kind[big | (lots["kind"].repeat(16)[:n_lots] == 2)] = 2  # large footprints have flat roofs
    lid = np.where(building, lots["lot_id"], 0)
    mat = np.where(lots["urban"][lots["block"]], CONCRETE, YARD)
    mat[lots["empty_lot"] & (rng.random(n_lots)[lots["lot_id"]] < 0.6)] = PARKING
    mat[scene["park"]] = LAWN
    mat[scene["water"]] = POND
    mat[(scene["road"] < scene["sidewalk"]) & ~scene["water"]] = SIDEWALK
    if scene["rail"] is not None:
        mat[scene["rail"] < 3.4 * f] = BALLAST
    mat[scene["road"] < 0] = ASPHALT
    mat[building] = np.where(roof_kind[lid] == 2, FLAT_ROOF, ROOF)[building]
    return mat, lid, roof_kind


def _roof_light(scene, lid, roof_kind, sun):
    """Brightness of each roof pixel: faces turned to the sun lit, the others shaded."""
    (xu, wu), (xv, wv) = scene["lots"]["box"]
    dl, dr, dt, db = xu, wu - xu, xv, wv - xv  # distances to the four eaves
    # Hip roofs slope towards the nearest eave, gable roofs towards the long sides.
    facing_u = np.where(roof_kind[lid] == 0, np.minimum(dl, dr) < np.minimum(dt, db), wu < wv)
    one = np.float32(1)
    nu = np.where(facing_u, np.where(dl < dr, -one, one), 0 * one)  # outward normal, grid axes
    nv = np.where(facing_u, 0 * one, np.where(dt < db, -one, one))
    c, s = float(np.cos(scene["grid"]["theta"])), float(np.sin(scene["grid"]["theta"]))
    # Faces pitched about 37 degrees: normal = (0.6 * horizontal outward, 0.8 up).
    light = ((nu * c - nv * s) * sun[0] + (nu * s + nv * c) * sun[1]) * 0.6 + 0.8 * sun[2]
    pitched = np.clip(light / sun[2], 0.55, 1.25)
    parapet = np.where(np.minimum(np.minimum(dl, dr), np.minimum(dt, db)) < 1.2 * scene["f"], np.float32(0.84), one)
    return np.where(roof_kind[lid] == 2, parapet, pitched)


def _render_photo(rng, scene):
    """The aerial photo: textured materials, roofs, marks, cars, trees, shadows, then the camera."""
    size, f, urban, grid, road = scene["size"], scene["f"], scene["urban"], scene["grid"], scene["road"]
    building, water = scene["building"], scene["water"]
    mat, lid, roof_kind = _materials(rng, scene)
    n_lots = len(roof_kind)
    level_shift = int(round(np.log2(256 / size)))  # a smaller tile shows the same scene: finer grain
    rgb = _MATERIAL_RGB[mat]  # (S, S, 3)
    roof_rgb = np.where(scene["lots"]["lot_urban"][:n_lots, None], _TOWER_ROOFS[rng.integers(0, 5, n_lots)],
                        _HOUSE_ROOFS[rng.integers(0, 6, n_lots)])
    roof_rgb *= rng.uniform(0.88, 1.1, (n_lots, 1)) * rng.uniform(0.96, 1.04, (n_lots, 3))
    rgb[building] = roof_rgb[lid[building]]
    grain = np.ones((size, size), np.float32)
    fields = {}
    for m, (_, name, level, contrast) in enumerate(_MATERIALS):
        sel = mat == m
        if sel.any():
            key = (name, level + level_shift)
            if key not in fields:
                fields[key] = _texture(rng, *key, size)
            grain[sel] = 1 + contrast * fields[key][sel]
    green = (mat == YARD) | (mat == LAWN)
    dry = np.clip(0.25 * _smooth_noise(rng, size, 5) + rng.uniform(0, 0.3), 0, 0.7) * green  # brown patches
    rgb += dry[..., None] * (np.float32([132, 122, 92]) - rgb)
    rgb *= (1 + 0.08 * _smooth_noise(rng, size, 8))[..., None]
    if water.any():  # shallows near the banks are lighter and greener
        shallow = np.clip(1 - ndimage.uniform_filter(water.astype(np.float32), int(6 * f) * 2 + 1), 0, 1)
        rgb += (shallow * water)[..., None] * np.float32([40, 36, 18])

    # Sun: shadows fall along `direction`, `sun` points at the sun.
    azimuth, elevation = rng.uniform(0, 2 * np.pi), rng.uniform(np.radians(35), np.radians(60))
    direction = (float(np.cos(azimuth)), float(np.sin(azimuth)))
    sun = (-direction[0] * float(np.cos(elevation)), -direction[1] * float(np.cos(elevation)), float(np.sin(elevation)))
    grain = np.where(building, grain * _roof_light(scene, lid, roof_kind, sun), grain)
    rgb *= grain[..., None]
    storeys = np.where(scene["lots"]["lot_urban"][:n_lots], rng.uniform(8, 30, n_lots), rng.uniform(3, 5, n_lots))
    height = np.where(building, storeys.astype(np.float32)[lid], 0) * f

    # Dashed centre lines on major roads, except across junctions.
    thin, dash = max(0.5, 0.6 * f), 10 * f
    arterial = scene["arterial"]
    art_edge = np.inf if arterial is None else arterial[0] - grid["hw_major"]
    marks = np.zeros((size, size), bool)
    for axis, other in (("u", "v"), ("v", "u")):
        marks |= (grid[f"centre_{axis}"] < thin) & (grid[f"edge_{other}"] > 0) & (art_edge > 0) \
            & ((grid[f"along_{axis}"] / dash) % 1 < 0.5)
    if arterial is not None:
        marks |= (arterial[0] < thin) & (grid["edge_u"] > 0) & (grid["edge_v"] > 0) & ((arterial[1] / dash) % 1 < 0.5)
    rgb[marks & (road < 0)] = rng.choice([(226, 214, 150), (222, 222, 218)])
    # Parking stalls: rows of short lines either side of an aisle.
    stalls = ((grid["pos_u"] / (3.2 * f)) % 1 < 0.22) & ((grid["pos_v"] / (12 * f)) % 1 < 0.4)
    rgb[(mat == PARKING) & stalls] = (196, 196, 192)
    if scene["rail"] is not None:  # two steel rails on the ballast
        rgb[(scene["rail"] > 0.4 * f) & (scene["rail"] < 1.3 * f) & (road >= 0)] *= 0.55

    chance = np.zeros(len(_MATERIALS), np.float32)
    chance[ASPHALT], chance[PARKING] = 0.12 + 0.2 * urban, 0.6
    q, *_, index = _blobs(rng, size, max(3.0, 6 * f), chance[mat], (max(0.7, f), max(0.9, 1.5 * f)), overlap=False)
    rgb[q > 0] = _CARS[rng.integers(0, len(_CARS), index.max() + 1)][index[q > 0]]
    chance = np.zeros(len(_MATERIALS), np.float32)
    chance[FLAT_ROOF] = 0.3
    q, *_ = _blobs(rng, size, max(3.0, 5 * f), chance[mat], (max(0.6, 0.8 * f), max(0.8, 1.3 * f)),
                   overlap=False, square=True)  # air-conditioning units
    rgb[q > 0] = (198, 198, 194)
    height = np.where(q > 0, height + 1.5 * f, height)

    chance = np.zeros(len(_MATERIALS), np.float32)
    chance[YARD], chance[CONCRETE], chance[SIDEWALK] = 0.15 + 0.45 * (1 - urban), 0.04, 0.4 * (1 - urban)
    chance[LAWN] = rng.uniform(0.4, 0.95)
    cell = max(3.0, 11 * f)
    q, dy, dx, r, index = _blobs(rng, size, cell, chance[mat], (0.36 * cell, 0.6 * cell))
    canopy = q + 0.25 * _texture(rng, "gravel", level_shift + 1, size) > 0  # ragged crowns
    dome = np.sqrt(np.clip(q, 0, 1))  # crowns lit as half spheres
    light = (dx / r * sun[0] + dy / r * sun[1] + dome * sun[2]) / sun[2]
    n_trees = index.max() + 1
    tint = np.float32([58, 76, 46]) * rng.uniform(0.8, 1.2, (n_trees, 1)) * rng.uniform(0.9, 1.1, (n_trees, 3))
    leaves = 1 + 0.2 * _texture(rng, "grass", level_shift, size)
    tree_rgb = tint.astype(np.float32)[index] * (np.clip(0.45 + 0.55 * light, 0.35, 1.25) * leaves)[..., None]
    rgb = np.where(canopy[..., None], tree_rgb, rgb)
    height = np.maximum(height, np.where(canopy, rng.uniform(3, 6) * f * dome, 0))

    shadow_per_height = 1 / np.tan(elevation)
    shadow = _cast_shadows(height * shadow_per_height, direction, float(height.max() * shadow_per_height))
    shadow = ndimage.uniform_filter(shadow.astype(np.float32), 2)  # soft penumbra
    rgb *= 1 - shadow[..., None] * np.float32([0.58, 0.55, 0.46])  # skylight makes shadows blue

    # Camera: optics blur, white balance, uneven exposure, haze and sensor grain.
    for axis in (0, 1):  # a [1 4 1] / 6 kernel per axis, about sigma 0.6
        mid, lo, hi = [slice(None)] * 2, [slice(None)] * 2, [slice(None)] * 2
        mid[axis], lo[axis], hi[axis] = slice(1, -1), slice(None, -2), slice(2, None)
        rgb[tuple(mid)] = (4 * rgb[tuple(mid)] + rgb[tuple(lo)] + rgb[tuple(hi)]) / 6
    rgb *= rng.uniform(0.92, 1.08) * rng.uniform(0.95, 1.05, 3) * (1 + 0.05 * _smooth_noise(rng, size, 3))[..., None]
    haze = rng.uniform(0, 0.1)
    rgb = rgb * (1 - haze) + haze * np.float32([176, 186, 196])
    rgb += 2.5 * rng.standard_normal((size, size, 1), dtype=np.float32)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def maps_pair(seed: int, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """One (satellite, map) pair, both uint8 (size, size, 3); the same seed gives the same pair.

    Sizes 64-256 show the same scene at different resolutions.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 64 <= size <= 256:
        raise DataError(f"maps_pair: size must be an integer from 64 to 256, got {size!r}")
    rng = np.random.default_rng(seed)
    scene = _layout(rng, int(size))
    map_tile = _render_map(scene)
    return _render_photo(rng, scene), map_tile


def map_classes(map_tile: np.ndarray) -> np.ndarray:
    """(H, W) class ids (indices into MAP_CLASSES) of a map tile, uint8 HWC or float in [-1, 1] CHW.

    Each pixel takes the nearest palette colour, so exact palette pixels map exactly and a
    translated map (which never hits the palette exactly) can be scored per pixel.
    """
    tile = np.asarray(map_tile.detach().cpu() if isinstance(map_tile, torch.Tensor) else map_tile)
    if tile.ndim == 3 and tile.shape[0] == 3 and tile.shape[-1] != 3:
        tile = np.moveaxis(tile, 0, -1)  # (3, H, W) -> (H, W, 3)
    if tile.ndim != 3 or tile.shape[-1] != 3:
        raise ValueError(f"map_classes: expected an (H, W, 3) or (3, H, W) image, got shape {tile.shape}")
    if tile.dtype != np.uint8:
        tile = (tile.astype(np.float32) + 1) * 127.5  # [-1, 1] -> [0, 255]
    palette = _PALETTE.astype(np.float32)
    # |x - p|^2 = |x|^2 - 2 x.p + |p|^2; |x|^2 is the same for every p, so it drops out of argmin.
    score = tile.astype(np.float32) @ palette.T * -2 + (palette * palette).sum(1)  # (H, W, K)
    return score.argmin(-1).astype(np.int64)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(127.5).sub_(1)  # (3, H, W) in [-1, 1]


class MapsDataset(Dataset):
    """`n` procedural (satellite, map) pairs as (3, image_size, image_size) tensors in [-1, 1].

    Tile i of a split uses seed ``seed * 2**21 + 2 * i`` (train) or ``... + 1`` (test), so the
    splits never share a tile. Tiles are drawn on first access and kept as uint8 when `cache`.
    """

    def __init__(self, n: int = 1000, image_size: int = 256, split: str = "train", seed: int = 0, *,
                 cache: bool = True):
        if split not in ("train", "test"):
            raise DataError(f"MapsDataset: split must be 'train' or 'test', got {split!r}")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 2**20:
            raise DataError(f"MapsDataset: n must be an integer from 1 to {2**20}, got {n!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or not 64 <= image_size <= 256:
            raise DataError(f"MapsDataset: image_size must be an integer from 64 to 256, got {image_size!r}")
        self.n, self.image_size, self.split, self.seed, self.cache = n, image_size, split, int(seed), cache
        self.channels = 3
        self.name, self.domains = f"maps:{split}", ("satellite", "map")
        self._tiles: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.n

    def tile_seed(self, index: int) -> int:
        return self.seed * 2**21 + 2 * index + (self.split == "test")

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(satellite, map) as uint8 (image_size, image_size, 3), for display."""
        if not -self.n <= index < self.n:
            raise IndexError(f"MapsDataset: index {index} out of range for {self.n} tiles")
        index %= self.n
        if index in self._tiles:
            return self._tiles[index]
        pair = maps_pair(self.tile_seed(index), self.image_size)
        if self.cache:
            self._tiles[index] = pair
        return pair

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        satellite, map_tile = self.pair(index)
        return _to_tensor(satellite), _to_tensor(map_tile)
