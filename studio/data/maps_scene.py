"""The layout of a procedural maps scene: street grid, major roads, blocks with buildings, parks,
water and rail, as per-pixel class ids and heights, and the web-map tile drawn from it in the flat
palette ``MAP_PALETTE`` (studio.data.maps uses both).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

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
