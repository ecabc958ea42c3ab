"""Images/s of one DCGAN training step: the studio engine against the classic PyTorch loop.

Two models, each in both implementations, timed in turns within one process:

- DCGAN-64: 3 x 64 x 64 images, latent 100, width 64, batch 64 (pytorch/examples dcgan);
- DCGAN-28: the GAN course's MNIST model (latent 64, G width 64, D width 16), batch 128.

Reference: the architecture written out as plain ``nn.Sequential`` modules and trained by the
loop of pytorch/examples' dcgan/main.py: eager, default (NCHW) memory format, default Adam,
``D(real)`` and ``D(fake.detach())`` as two passes, the fake reused for the G step, and
``.item()`` of both losses each step. Candidate: ``training.loop.Trainer.train_step`` on the
same data, i.e. the engine's real step (data fetch, family step, one logged event).

StyleGAN-32 (``--models stylegan``): the bundled mnist-stylegan architecture at its last (32 px)
stage, batch 32, non-saturating loss, R1 (gamma 1) on every D step, style mixing (p 0.9), Adam(0,
0.99). Reference: the same ``studio.models.StyleGAN`` modules trained by a plain eager loop as the
paper's equations read (NCHW; D on reals, D on fakes, and D on reals again for R1; then G); the
engine's step is ``training.steps.stylegan_step`` in the recipe's memory formats (G in NCHW, D in
channels_last: the fastest of the three layouts here, ``--variants`` times the other two), one D
pass on the reals serving both the loss and R1's gradient. Goal (issue 14): at least 1.15x.

    python -m bench train [--repeats 15] [--models 64,28,stylegan] [--variants]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from bench.common import compare, print_table, use_all_cores

CONFIGS = {  # name -> (image_size, channels, latent, G width, D width, batch)
    "64": (64, 3, 100, 64, 64, 64),
    "28": (28, 1, 64, 64, 16, 128),
}
# The engine runs each model with the speed settings of the recipe that trains it: folder-dcgan
# (separate real and fake batches), the BatchNorm-D digit GANs such as mnist-cgan (fuse_d: D sees [real; fake] as
# one batch).
ENGINE_SETTINGS = {"64": {"fuse_d": False}, "28": {"fuse_d": True}}


# ----------------------------------------------------------------------------- the reference


def reference_nets(size: int, channels: int, nz: int, ngf: int, ndf: int) -> tuple[nn.Module, nn.Module]:
    """The same architectures as studio.models.DCGAN, written as the original scripts wrote them."""
    if size == 64:  # pytorch/examples dcgan: netG, netD (its Sigmoid dropped: we use logits)
        netG = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False), nn.Tanh(),
        )
        netD = nn.Sequential(
            nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
        )
        return netG, netD

    def g_block(c_in, c_out, k, s, final=False):  # the course's make_gen_block
        if final:
            return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, k, s), nn.Tanh())
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, k, s), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

    def d_block(c_in, c_out, final=False):  # the course's make_disc_block
        if final:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2))
        return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True))

    gen = nn.Sequential(g_block(nz, ngf * 4, 3, 2), g_block(ngf * 4, ngf * 2, 4, 1), g_block(ngf * 2, ngf, 3, 2),
                        g_block(ngf, channels, 4, 2, final=True))
    disc = nn.Sequential(d_block(channels, ndf), d_block(ndf, ndf * 2), d_block(ndf * 2, 1, final=True))
    return gen, disc


class ReferenceLoop:
    """pytorch/examples dcgan/main.py's loop body, one batch per call."""

    def __init__(self, images: torch.Tensor, config: tuple, seed: int = 0):
        size, channels, self.nz, ngf, ndf, self.batch = config
        torch.manual_seed(seed)
        self.netG, self.netD = reference_nets(size, channels, self.nz, ngf, ndf)
        self.criterion = nn.BCEWithLogitsLoss()
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.images, self.position = images, 0

    def next_batch(self) -> torch.Tensor:
        if self.position + self.batch > len(self.images):
            self.position = 0
        batch = self.images[self.position : self.position + self.batch]
        self.position += self.batch
        return batch

    def step(self) -> tuple[float, float]:
        real = self.next_batch()
        b = real.size(0)
        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
        self.netD.zero_grad()
        label = torch.full((b,), 1.0)
        errD_real = self.criterion(self.netD(real).view(-1), label)
        errD_real.backward()
        noise = torch.randn(b, self.nz, 1, 1)
        fake = self.netG(noise)
        label.fill_(0.0)
        errD_fake = self.criterion(self.netD(fake.detach()).view(-1), label)
        errD_fake.backward()
        self.optD.step()
        # (2) Update G: maximize log(D(G(z)))
        self.netG.zero_grad()
        label.fill_(1.0)
        errG = self.criterion(self.netD(fake).view(-1), label)
        errG.backward()
        self.optG.step()
        return (errD_real + errD_fake).item(), errG.item()


class StyleGANReferenceLoop:
    """StyleGAN's step written out plainly on the same network (see the module docstring)."""

    def __init__(self, images: torch.Tensor, model, batch: int, r1_gamma: float = 1.0, mixing_prob: float = 0.9):
        torch.manual_seed(0)
        self.images, self.batch, self.gamma, self.mixing_prob = images, batch, r1_gamma, mixing_prob
        self.model = model
        self.g_params = list(model.mapping_network.parameters()) + list(model.synthesis_network.parameters())
        self.d_params = [p for n, p in model.named_parameters() if n.startswith("discriminator")]
        self.opt_g = torch.optim.Adam(self.g_params, lr=1e-3, betas=(0.0, 0.99))
        self.opt_d = torch.optim.Adam(self.d_params, lr=1e-3, betas=(0.0, 0.99))
        self.position = 0

    def step(self):
        from torch.nn.functional import softplus

        m, b = self.model, self.batch
        if self.position + b > len(self.images):
            self.position = 0
        real = self.images[self.position:self.position + b]
        self.position += b
        ws = m.mapping(torch.randn(b, m.latent_dim))
        mix = m.mapping(torch.randn(b, m.latent_dim))
        crossover = torch.randint(1, m.num_ws, (b, 1))
        take = (torch.rand(b, 1) < self.mixing_prob) & (torch.arange(m.num_ws)[None, :] >= crossover)
        fake = m.synthesis(torch.where(take[:, :, None], mix, ws), noise_mode="random")
        # D: softplus(D(G(z))) + softplus(-D(x)) + gamma/2 ||grad_x D(x)||^2
        self.opt_d.zero_grad(set_to_none=True)
        loss_d = softplus(m.discriminate(fake.detach())).mean() + softplus(-m.discriminate(real)).mean()
        x = real.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(m.discriminate(x).sum(), x, create_graph=True)
        (loss_d + 0.5 * self.gamma * grad.pow(2).flatten(1).sum(1).mean()).backward()
        self.opt_d.step()
        # G: softplus(-D(G(z)))
        self.opt_g.zero_grad(set_to_none=True)
        for p in self.d_params:
            p.requires_grad_(False)
        loss_g = softplus(-m.discriminate(fake)).mean()
        loss_g.backward()
        for p in self.d_params:
            p.requires_grad_(True)
        self.opt_g.step()
        return loss_d.item(), loss_g.item()


STYLEGAN = {"latent_dim": 64, "w_dim": 64, "mapping_layers": 3, "width": 64, "disc_width": 32}  # mnist-stylegan


def stylegan_alternatives(batch: int = 32, **overrides) -> dict:
    """{"reference (plain eager loop)": step, "engine": step} on 512 MNIST digits padded to 32 px."""
    from studio.data.mnist import ImageTensorDataset
    from studio.models import StyleGAN
    from training.loop import Trainer
    from training.recipes import Recipe, get_recipe

    images = torch.nn.functional.pad(bench_dataset(CONFIGS["28"]).images[:512], (2, 2, 2, 2), value=-1.0)
    digits = ImageTensorDataset(images.contiguous(), torch.zeros(len(images), dtype=torch.long), ["digit"], "bench-mnist32")
    recipe = Recipe(name="bench-stylegan", family="stylegan", image_size=32, channels=1, model=dict(STYLEGAN),
                    batch_size=batch, steps=10**9, sample_every=0, checkpoint_every=0, loss="nonsat", r1_gamma=1.0,
                    mixing_prob=0.9, phase_steps=0, lr_g=1e-3, lr_d=1e-3, beta1=0.0, beta2=0.99,
                    **{**recipe_layout(get_recipe("mnist-stylegan")), **overrides})
    engine = Trainer(recipe, run=None, device=torch.device("cpu"), dataset=digits)
    torch.manual_seed(0)
    reference = StyleGANReferenceLoop(images, StyleGAN(image_size=32, channels=1, **STYLEGAN), batch)
    return {"reference (plain eager loop)": reference.step, "engine": engine.train_step}


# the memory formats the engine can train a GAN in: all NCHW, all NHWC, D alone in NHWC
LAYOUTS = {
    "NCHW": {"channels_last": False, "d_channels_last": False},
    "channels_last": {"channels_last": True, "d_channels_last": False},
    "D alone channels_last": {"channels_last": False, "d_channels_last": True},
}


def recipe_layout(recipe) -> dict:
    return {"channels_last": recipe.channels_last, "d_channels_last": recipe.d_channels_last}


def stylegan_variants() -> dict:
    """The engine in the other memory formats, beside the recipe's."""
    from training.recipes import get_recipe

    own = recipe_layout(get_recipe("mnist-stylegan"))
    return {f"engine, {name}": stylegan_alternatives(**layout)["engine"] for name, layout in LAYOUTS.items() if layout != own}


# ----------------------------------------------------------------------------- the engine


def engine_trainer(dataset, config: tuple, **overrides):
    from training.loop import Trainer
    from training.recipes import Recipe

    size, channels, nz, ngf, ndf, batch = config
    recipe = Recipe(name=f"bench-dcgan-{size}", family="dcgan", image_size=size, channels=channels,
                    model={"latent_dim": nz, "width": ngf, "disc_width": ndf}, batch_size=batch, steps=10**9,
                    sample_every=0, checkpoint_every=0, **overrides)
    return Trainer(recipe, run=None, device=torch.device("cpu"), dataset=dataset)


def bench_dataset(config: tuple, count: int = 512):
    """MNIST digits for the 28-pixel model; smooth random colour images for DCGAN-64."""
    from studio.data import mnist
    from studio.data.mnist import ImageTensorDataset

    size, channels = config[0], config[1]
    if size == 28:
        return mnist("train")
    generator = torch.Generator().manual_seed(0)
    low = torch.rand(count, channels, 8, 8, generator=generator) * 2 - 1
    images = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    return ImageTensorDataset(images.contiguous(), torch.zeros(count, dtype=torch.long), ["image"], "bench-noise")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--models", default="64,28,stylegan", help="comma-separated: 64, 28, stylegan")
    parser.add_argument("--variants", action="store_true", help="also time the engine's optional speed settings")
    args = parser.parse_args(argv)
    threads = use_all_cores()
    print(f"torch {torch.__version__}, {threads} threads")
    summary = []
    for name in args.models.split(","):
        if name == "stylegan":
            alternatives = {**stylegan_alternatives(), **(stylegan_variants() if args.variants else {})}
            timings = compare(alternatives, repeats=args.repeats, warmup=args.warmup)
            print_table(timings, "reference (plain eager loop)", "StyleGAN-32 (mnist-stylegan), batch 32: one training step")
            ref, eng = timings["reference (plain eager loop)"], timings["engine"]
            summary.append(f"StyleGAN-32 batch 32: engine {32 / eng.median_ms * 1e3:,.0f} img/s vs reference "
                           f"{32 / ref.median_ms * 1e3:,.0f} img/s: {ref.median_ms / eng.median_ms:.2f}x (median), "
                           f"{ref.best_ms / eng.best_ms:.2f}x (best); goal >= 1.15x")
            continue
        config = CONFIGS[name]
        batch = config[-1]
        dataset = bench_dataset(config)
        reference = ReferenceLoop(dataset.images, config)
        settings = ENGINE_SETTINGS[name]
        engine = engine_trainer(dataset, config, **settings)
        alternatives = {"reference (pytorch/examples loop)": reference.step, "engine": engine.train_step}
        if args.variants:
            alternatives["engine, channels_last off"] = engine_trainer(dataset, config, **{**settings, "channels_last": False}).train_step
            flipped = {**settings, "fuse_d": not settings["fuse_d"]}
            alternatives[f"engine, fuse_d={flipped['fuse_d']}"] = engine_trainer(dataset, config, **flipped).train_step
        timings = compare(alternatives, repeats=args.repeats, warmup=args.warmup)
        print_table(timings, "reference (pytorch/examples loop)", f"DCGAN-{name}, batch {batch}: one training step")
        ref = timings["reference (pytorch/examples loop)"]
        for label, timing in timings.items():
            print(f"  {label}: {batch / timing.best_ms * 1e3:,.0f} images/s best, {batch / timing.median_ms * 1e3:,.0f} median")
        eng = timings["engine"]
        summary.append(f"DCGAN-{name} batch {batch}: engine {batch / eng.median_ms * 1e3:,.0f} img/s vs reference "
                       f"{batch / ref.median_ms * 1e3:,.0f} img/s: {ref.median_ms / eng.median_ms:.2f}x (median), "
                       f"{ref.best_ms / eng.best_ms:.2f}x (best)")
    print()
    print("\n".join(summary))
    return 0
