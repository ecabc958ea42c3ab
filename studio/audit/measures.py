"""Sample-based metrics on feature vectors: FID, KID, classifier (Inception) score, precision/recall,
density/coverage, bootstrap intervals and FID against N. Features in, plain numbers out.

- FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
  Equilibrium"): the Fréchet distance between Gaussians fitted to two feature sets,
      d² = |μ1 − μ2|² + tr Σ1 + tr Σ2 − 2 tr (Σ1^½ Σ2 Σ1^½)^½.
  ``FeatureStats`` accumulates mean and covariance batch by batch in float64. With Σ1 = F Fᵀ
  (Cholesky; V √Λ from eigh when Σ1 is singular), tr (Σ1^½ Σ2 Σ1^½)^½ = Σ √λ(Fᵀ Σ2 F): the
  eigenvalues of one symmetric matrix (``torch.linalg.eigvalsh``), no ``scipy.linalg.sqrtm``.
  Rounding can take identical sets a hair below 0; the distance is clipped there.
- KID (Bińkowski et al. 2018, "Demystifying MMD GANs"): unbiased MMD² with the cubic kernel
  k(x, y) = (xᵀy / d + 1)³, averaged over seeded random subsets (torchmetrics' protocol).
- Inception score (Salimans et al. 2016): exp E_x KL(p(y|x) ‖ p(y)) over splits, from any
  classifier's logits; with a classifier other than Inception it is a "classifier score".
- Precision / recall (Kynkäänniemi et al. 2019, k = 3): the share of generated samples inside the
  real manifold (the union of k-NN balls around real samples), and of real samples inside the
  generated one. Density / coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics
  for Generative Models", k = 5 as there).
- FID against N (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to
  find them"): FID_N is linear in 1/N; its intercept FID∞ is the FID of infinitely many samples.
  Small-N FID is biased upward, so FIDs compare only at equal N.

Uncertainty: ``resample`` draws bootstrap counts (how often each sample is drawn, with replacement)
for both sets, and every metric evaluates the same replicates from what it already holds: weighted
means and covariances, weighted U-statistics on each KID subset's kernel matrices, weighted shares.
The k-NN manifolds (balls and radii) stay those of the full sets and the samples counted against
them are resampled: resampling the balls would drop a third of them from every replicate (density,
linear in the balls' multiplicities, resamples both). Replicates
of a nonlinear statistic are biased (a resample holds about 63% distinct samples: FID up, the
classifier score down), so ``interval`` recentres them on the estimate before taking percentiles.
The interval shows how the value at this N varies; it does not remove FID's small-N bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from studio.errors import DataError

LEVEL = 0.95  # bootstrap interval coverage
SMALL_N = 10_000  # below this, FID's upward bias is worth a sentence
PR_NEIGHBOURS = 3  # Kynkäänniemi et al. 2019
DC_NEIGHBOURS = 5  # Naeem et al. 2020


def _f64(values) -> torch.Tensor:
    # Linear algebra runs in torch, in the thread pool feature extraction just used: a scipy call
    # right after torch work waited for torch's spinning OpenMP threads (2.2 s instead of 0.75 s).
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64)
    return torch.as_tensor(np.asarray(values), dtype=torch.float64)


class FeatureStats:
    """Mean and covariance of features accumulated batch by batch in float64: memory O(d²)."""

    def __init__(self, dim: int):
        self.dim, self.count = int(dim), 0
        self._shift: torch.Tensor | None = None
        self._sum = torch.zeros(self.dim, dtype=torch.float64)
        self._outer = torch.zeros(self.dim, self.dim, dtype=torch.float64)

    @classmethod
    def of(cls, features) -> FeatureStats:
        return cls(np.shape(features)[1]).update(features)

    @classmethod
    def from_moments(cls, mean, cov, count: int) -> FeatureStats:
        """Statistics saved earlier (a cached reference): further updates stay exact."""
        stats = cls(len(mean))
        stats._shift, stats.count = _f64(mean).clone(), int(count)
        stats._outer = _f64(cov) * (stats.count - 1)
        return stats

    def update(self, features) -> FeatureStats:
        x = _f64(features)  # (B, d)
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected features (B, {self.dim}), got shape {tuple(x.shape)}")
        if len(x):
            if self._shift is None:
                # sums about a point near the mean: less cancellation in Σxxᵀ − N μμᵀ
                self._shift = x.mean(dim=0)
            x = x - self._shift
            self._sum += x.sum(dim=0)
            self._outer += x.T @ x
            self.count += len(x)
        return self

    @property
    def mean(self) -> np.ndarray:
        if not self.count:
            raise DataError("no features: a mean needs at least one sample")
        return (self._shift + self._sum / self.count).numpy()  # (d,)

    @property
    def cov(self) -> np.ndarray:
        if self.count < 2:
            raise DataError(f"a covariance needs at least 2 samples, got {self.count}")
        centre = self._sum / self.count
        cov = (self._outer - self.count * torch.outer(centre, centre)) / (self.count - 1)
        return ((cov + cov.T) / 2).numpy()  # (d, d)


def covariance_factor(sigma) -> torch.Tensor:
    """F with F Fᵀ = Σ: the Cholesky factor when Σ is positive definite, else V √max(Λ, 0) from the
    symmetric eigen-decomposition (fewer samples than dimensions, or dead features)."""
    sigma = _f64(sigma)
    factor, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return factor
    eigenvalues, vectors = torch.linalg.eigh(sigma)
    return vectors * eigenvalues.clamp(min=0).sqrt()


def frechet_distance(mu1, sigma1, mu2, sigma2, *, factor1: torch.Tensor | None = None) -> float:
    """Squared Fréchet distance of N(μ1, Σ1) and N(μ2, Σ2), never negative.

    ``factor1``: ``covariance_factor(sigma1)`` when Σ1 is reused (a cached reference)."""
    mu1, sigma1, mu2, sigma2 = _f64(mu1), _f64(sigma1), _f64(mu2), _f64(sigma2)
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"Fréchet distance of mismatched statistics: {tuple(mu1.shape)} {tuple(sigma1.shape)} "
                         f"vs {tuple(mu2.shape)} {tuple(sigma2.shape)}")
    factor = covariance_factor(sigma1) if factor1 is None else factor1
    middle = factor.T @ sigma2 @ factor  # Fᵀ Σ2 F: symmetric, with the eigenvalues of Σ1 Σ2
    eigenvalues = torch.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = eigenvalues.clamp(min=0).sqrt().sum()  # tr (Σ1^½ Σ2 Σ1^½)^½
    diff = mu1 - mu2
    return max(float(diff @ diff + sigma1.trace() + sigma2.trace() - 2.0 * trace_sqrt), 0.0)


def fid(gen, ref) -> float:
    """FID of two feature arrays (N, d) or two FeatureStats."""
    gen = gen if isinstance(gen, FeatureStats) else FeatureStats.of(gen)
    ref = ref if isinstance(ref, FeatureStats) else FeatureStats.of(ref)
    return frechet_distance(ref.mean, ref.cov, gen.mean, gen.cov)


# ----------------------------------------------------------------------------- bootstrap

@dataclass(frozen=True)
class Resamples:
    """Bootstrap counts: how often each sample is drawn in each replicate (a row sums to N)."""

    gen: np.ndarray  # (B, N_gen) int
    ref: np.ndarray  # (B, N_ref) int
    seed: int

    @property
    def times(self) -> int:
        return self.gen.shape[0]


def resample(n_gen: int, n_ref: int, times: int, seed: int = 0) -> Resamples:
    """``times`` bootstrap replicates of both sets (drawn with replacement), seeded."""
    rng = np.random.default_rng(seed)

    def counts(n: int) -> np.ndarray:
        return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(times)])

    return Resamples(counts(n_gen), counts(n_ref), seed)


def interval(replicates, estimate: float, level: float = LEVEL, bounds: tuple = (None, None)) -> list[float]:
    """The bootstrap interval [low, high] of ``estimate``: percentiles of the replicates after
    shifting their median onto the estimate (removes the replicates' own resampling bias), kept
    within the metric's ``bounds`` (FID >= 0, shares in [0, 1])."""
    values = np.asarray(replicates, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return [float("nan"), float("nan")]
    values = np.clip(values - (np.median(values) - estimate), *bounds)
    tail = (1.0 - level) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def weighted_stats(features, counts) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of ``features`` (N, d) with each row counted ``counts`` (N,) times."""
    x, w = _f64(features), _f64(counts)
    total = w.sum()
    mean = w @ x / total
    centred = x - mean
    cov = (centred * w[:, None]).T @ centred / (total - 1)
    return mean, (cov + cov.T) / 2


def fid_replicates(gen, ref, resamples: Resamples) -> np.ndarray:
    """FID of every bootstrap replicate (B,): both sets resampled."""
    gen, ref = _f64(gen), _f64(ref)
    out = np.empty(resamples.times)
    for b in range(resamples.times):
        mu_g, cov_g = weighted_stats(gen, resamples.gen[b])
        mu_r, cov_r = weighted_stats(ref, resamples.ref[b])
        out[b] = frechet_distance(mu_r, cov_r, mu_g, cov_g)
    return out


# ----------------------------------------------------------------------------- KID

def _poly_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1.0) ** 3  # (n, m)


def _mmd2_unbiased(k_xx, k_xy, k_yy) -> float:
    # MMD²_u = Σ_{i≠j} k(x_i, x_j) / m(m−1) + Σ_{i≠j} k(y_i, y_j) / m(m−1) − 2 Σ_{i,j} k(x_i, y_j) / m²
    m = k_xx.shape[0]
    same = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(same - 2 * k_xy.sum() / m**2)


def _weighted_mmd2(k_xx, k_xy, k_yy, a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """MMD²_u of each replicate (B,) with sample counts a (B, m) for x and b (B, m) for y; pairs of
    copies of one sample are left out, as the unbiased estimate leaves out i = j."""
    def within(k: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        pairs = w.sum(1) ** 2 - (w**2).sum(1)
        return (((w @ k) * w).sum(1) - (w**2) @ k.diagonal()) / pairs

    across = ((a @ k_xy) * b).sum(1) / (a.sum(1) * b.sum(1))
    return (within(k_xx, a) + within(k_yy, b) - 2 * across).numpy()


def kid(gen, ref, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0,
        resamples: Resamples | None = None) -> dict:
    """KID: the mean over ``subsets`` seeded random subsets of ``subset_size`` samples per set of the
    unbiased MMD² with the cubic polynomial kernel. Subsets are drawn as torchmetrics draws them
    (torch.randperm, reference set first), so ``torch.manual_seed(seed)`` there gives the same ones.

    Returns {"value", "std" (over subsets), "subsets", "subset_size", "seed", "replicates"}."""
    x, y = _f64(ref), _f64(gen)  # (N_ref, d), (N_gen, d)
    smaller = min(len(x), len(y))
    if subset_size < 2 or subset_size > smaller:
        raise DataError(f"KID subset size {subset_size} does not fit: it must be from 2 to the size of the "
                        f"smaller set ({smaller} samples); lower the subset size or draw more samples")
    if subsets < 1:
        raise DataError(f"KID needs at least one subset, got {subsets}")
    generator = torch.Generator().manual_seed(seed)
    values = np.empty(subsets)
    replicates = np.empty((resamples.times, subsets)) if resamples is not None else None
    for s in range(subsets):
        ref_idx = torch.randperm(len(x), generator=generator)[:subset_size]
        gen_idx = torch.randperm(len(y), generator=generator)[:subset_size]
        xs, ys = x[ref_idx], y[gen_idx]
        k_xx, k_yy, k_xy = _poly_kernel(xs, xs), _poly_kernel(ys, ys), _poly_kernel(xs, ys)
        values[s] = _mmd2_unbiased(k_xx, k_xy, k_yy)
        if replicates is not None:
            replicates[:, s] = _weighted_mmd2(k_xx, k_xy, k_yy, _f64(resamples.ref[:, ref_idx.numpy()]),
                                              _f64(resamples.gen[:, gen_idx.numpy()]))
    return {"value": float(values.mean()), "std": float(values.std()), "subsets": subsets,
            "subset_size": subset_size, "seed": seed,
            "replicates": None if replicates is None else np.nanmean(replicates, axis=1)}


# ----------------------------------------------------------------------------- Inception score

def inception_score(logits, *, splits: int = 10, seed: int = 0, resamples: Resamples | None = None) -> dict:
    """exp E_x KL(p(y|x) ‖ p(y)) from a classifier's logits (N, K): samples in a seeded random order,
    cut into ``splits`` chunks as torchmetrics cuts them; the mean and std over chunks.

    Returns {"value", "std", "splits", "seed", "replicates"}."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)  # (N, K)
    if z.dim() != 2 or len(z) < 2 * splits:
        raise DataError(f"the classifier score with {splits} splits needs at least {2 * splits} samples "
                        f"(logits (N, K)), got shape {tuple(z.shape)}")
    order = torch.randperm(len(z), generator=torch.Generator().manual_seed(seed))
    prob, log_prob = z[order].softmax(dim=1), z[order].log_softmax(dim=1)
    scores, replicate_scores = [], []
    for chunk in torch.arange(len(z)).chunk(splits):
        p, log_p = prob[chunk], log_prob[chunk]  # (n, K)
        marginal = p.mean(dim=0, keepdim=True)  # p(y) over the chunk, (1, K)
        scores.append(float((p * (log_p - marginal.log())).sum(dim=1).mean().exp()))
        if resamples is not None:
            w = torch.as_tensor(resamples.gen[:, order[chunk].numpy()], dtype=torch.float64)  # (B, n)
            total = w.sum(dim=1, keepdim=True)
            weighted_marginal = (w @ p) / total  # (B, K)
            kl = (p * log_p).sum(dim=1)[None] - weighted_marginal.log() @ p.T  # (B, n)
            replicate_scores.append(((w * kl).sum(dim=1) / total[:, 0]).exp().numpy())
    values = torch.tensor(scores, dtype=torch.float64)
    return {"value": float(values.mean()), "std": float(values.std()) if splits > 1 else 0.0,
            "splits": splits, "seed": seed,
            "replicates": np.mean(replicate_scores, axis=0) if resamples is not None else None}


# ----------------------------------------------------------------------------- k-NN manifolds

def knn_radii(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance of each sample (N, d) to its k-th nearest other sample (N,)."""
    radii = []
    for start in range(0, len(x), chunk):
        distances = torch.cdist(x[start:start + chunk], x)  # (c, N); column of the sample itself is 0
        radii.append(distances.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def manifold_metrics(gen, ref, *, k_pr: int = PR_NEIGHBOURS, k_dc: int = DC_NEIGHBOURS,
                     resamples: Resamples | None = None, chunk: int = 1024) -> dict:
    """Precision, recall (k_pr) and density, coverage (k_dc): {name: {"value", "replicates"}}."""
    y = torch.as_tensor(np.asarray(gen), dtype=torch.float64)  # generated (M, d)
    x = torch.as_tensor(np.asarray(ref), dtype=torch.float64)  # real (N, d)
    need = max(k_pr, k_dc) + 1
    if len(x) < need or len(y) < need:
        raise DataError(f"precision/recall (k={k_pr}) and density/coverage (k={k_dc}) need at least {need} "
                        f"samples in each set, got {len(y)} generated and {len(x)} reference")
    real_pr, real_dc, fake_pr = knn_radii(x, k_pr, chunk), knn_radii(x, k_dc, chunk), knn_radii(y, k_pr, chunk)
    in_real_pr = torch.empty(len(y), len(x), dtype=torch.bool)  # generated j inside real ball i (k_pr)
    in_real_dc = torch.empty(len(y), len(x), dtype=torch.bool)  # ... (k_dc)
    in_fake_pr = torch.empty(len(y), len(x), dtype=torch.bool)  # real i inside generated ball j (k_pr)
    for start in range(0, len(y), chunk):
        d = torch.cdist(y[start:start + chunk], x)  # (c, N)
        in_real_pr[start:start + chunk] = d <= real_pr[None]
        in_real_dc[start:start + chunk] = d <= real_dc[None]
        in_fake_pr[start:start + chunk] = d <= fake_pr[start:start + chunk, None]
    out = {
        "precision": {"value": float(in_real_pr.any(dim=1).double().mean())},
        "recall": {"value": float(in_fake_pr.any(dim=0).double().mean())},
        "density": {"value": float(in_real_dc.sum()) / (k_dc * len(y))},
        "coverage": {"value": float(in_real_dc.any(dim=0).double().mean())},
    }
    if resamples is not None:
        # the manifolds stay the full sets'; the samples counted against them are resampled
        a, c = resamples.gen.astype(np.float64), resamples.ref.astype(np.float64)  # (B, M), (B, N)
        counts = torch.as_tensor(c.T, dtype=torch.float32)  # (N, B); float32 sums of small counts are exact
        balls = torch.cat([in_real_dc[s:s + chunk].float() @ counts for s in range(0, len(y), chunk)])  # (M, B)
        balls = balls.double().numpy()
        out["precision"]["replicates"] = a @ in_real_pr.any(dim=1).double().numpy() / a.sum(1)
        out["recall"]["replicates"] = c @ in_fake_pr.any(dim=0).double().numpy() / c.sum(1)
        out["density"]["replicates"] = (a * balls.T).sum(1) / (k_dc * a.sum(1))
        out["coverage"]["replicates"] = c @ in_real_dc.any(dim=0).double().numpy() / c.sum(1)
    for name, k in (("precision", k_pr), ("recall", k_pr), ("density", k_dc), ("coverage", k_dc)):
        out[name]["k"] = k
    return out


# ----------------------------------------------------------------------------- FID against N

def fid_curve(gen, ref_mean, ref_cov, *, ns=None, points: int = 8, repeats: int = 5, seed: int = 0,
              level: float = LEVEL) -> dict:
    """FID of random subsets of ``gen`` (N, d) of growing size N_i against fixed reference statistics,
    and FID∞: the intercept of the line FID = FID∞ + slope / N fitted through the mean curve.

    ``ns`` defaults to ``points`` sizes evenly spaced in 1/N from N/5 to N. Each size is drawn
    ``repeats`` times (without replacement); the band is the percentile range over draws, and the
    interval of FID∞ the range of the intercepts fitted to each draw's curve."""
    gen = np.asarray(gen)
    n = len(gen)
    if ns is None:
        smallest = max(2, n // 5)
        ns = sorted({int(round(1.0 / x)) for x in np.linspace(1.0 / smallest, 1.0 / n, points)})
    ns = [int(m) for m in ns]
    if len(ns) < 2 or min(ns) < 2 or max(ns) > n:
        raise DataError(f"FID against N needs at least two sizes from 2 to {n} samples, got {ns}")
    rng = np.random.default_rng(seed)
    table = np.empty((repeats, len(ns)))
    factor = covariance_factor(ref_cov)  # the reference is decomposed once
    for r in range(repeats):
        for i, m in enumerate(ns):
            stats = FeatureStats.of(gen[rng.choice(n, m, replace=False)])
            table[r, i] = frechet_distance(ref_mean, ref_cov, stats.mean, stats.cov, factor1=factor)
    inverse = 1.0 / np.asarray(ns, np.float64)
    slope, intercept = np.polyfit(inverse, table.mean(axis=0), 1)
    intercepts = [np.polyfit(inverse, row, 1)[1] for row in table]
    tail = (1.0 - level) / 2 * 100
    return {
        "n": ns, "fid": table.mean(axis=0).tolist(),
        "low": np.percentile(table, tail, axis=0).tolist(), "high": np.percentile(table, 100 - tail, axis=0).tolist(),
        "fid_inf": float(intercept), "fid_inf_interval": [float(min(intercepts)), float(max(intercepts))],
        "slope": float(slope), "repeats": repeats, "seed": seed,
    }


def small_n_note(n: int) -> str | None:
    """The sentence to show next to a FID from only ``n`` samples, or None."""
    if n >= SMALL_N:
        return None
    return (f"FID from N={n:,} samples is biased upward (the bias shrinks roughly as 1/N): compare FIDs "
            f"only at equal N and extractor, or use FID∞ from fid_vs_n.")
