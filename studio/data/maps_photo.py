"""The aerial photo of a procedural maps scene (studio.data.maps): materials textured with the
photographs bundled with scikit-image (grass, gravel, brick), lit and shaded roof faces, cast
shadows, trees, cars and camera noise. The map tile is drawn from the same scene in maps.py.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from studio.data.maps_scene import _blobs, _cast_shadows, _smooth_noise

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
