"""The idea behind each page or tab (a few sentences, a formula, the papers), written once for both UIs.

Streamlit shows an ``Idea`` with ``app_pages/_shared.explain``; Gradio with ``Idea.markdown()``.
Text is Markdown with ``$...$`` for inline maths; the formula is LaTeX for a display block.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Idea:
    text: str
    formula: str | None = None
    papers: tuple[tuple[str, str], ...] = ()

    def markdown(self) -> str:
        """The whole idea as one Markdown string (the formula between ``$$``), for UIs that render KaTeX."""
        parts = ["**The idea**", self.text]
        if self.formula:
            parts.append(f"$$\n{self.formula}\n$$")
        parts += [f"- [{title}]({url})" for title, url in self.papers]
        return "\n\n".join(parts)


INTERPOLATION = Idea(
    "Each seed fixes a latent vector $z \\sim \\mathcal{N}(0, I)$; the walk draws the images along "
    "a path through them. In $d$ dimensions almost all of a Gaussian's mass lies near the sphere "
    "$|z| = \\sqrt{d}$: a straight line (**lerp**) cuts through the emptier middle, where the "
    "generator saw few latents in training, while spherical interpolation (**slerp**) stays on the "
    "shell (see the chart below). For a conditional model the one-hot class vector is blended "
    "linearly along the same path.",
    formula=r"\begin{aligned}\mathrm{slerp}(a, b; t) &= \tfrac{\sin((1-t)\Omega)}{\sin\Omega}\,a"
    r" + \tfrac{\sin(t\Omega)}{\sin\Omega}\,b \\ \cos\Omega &= \tfrac{a \cdot b}{|a|\,|b|}\end{aligned}",
    papers=(
        ("White 2016, Sampling Generative Networks", "https://arxiv.org/abs/1609.04468"),
        ("Mirza & Osindero 2014, Conditional GANs", "https://arxiv.org/abs/1411.1784"),
    ),
)

TRUNCATION = Idea(
    "Draw $z \\sim \\mathcal{N}(0, I)$, then redraw every entry with $|z_i| > \\tau$. Latents stay "
    "near the middle of the prior, where the generator was trained best: images become cleaner "
    "and more typical (**fidelity** up) but more alike (**diversity** down). $\\tau \\to \\infty$ is "
    "plain sampling. *Diversity* below is the mean pairwise RMS pixel distance of the 16 images "
    "(0 = all identical); the *discriminator score* is the mean raw output of this model's own D, "
    "a rough realism proxy rather than a calibrated metric.",
    formula=r"z_i \sim \mathcal{N}(0, 1)\ \text{ conditioned on }\ |z_i| \le \tau",
    papers=(("Brock et al. 2018, BigGAN (the truncation trick)", "https://arxiv.org/abs/1809.11096"),),
)

TRANSLATION = Idea(
    "**pix2pix** learns from *paired* images. Its **U-Net** generator halves the image down to a "
    "bottleneck and grows it back, and **skip connections** hand each level's details straight across "
    "to the decoder. The bundled maps model adds a small **full-resolution head**: the reference "
    "U-Net's first and last layers work at half size, so the head sees the input image again at full "
    "size and places 1-pixel road outlines. Its **PatchGAN** discriminator judges every 70x70 patch "
    "as real or fake (texture, sharpness), while an **L1** distance to the paired target keeps the "
    "layout and colours.\n\n"
    "**CycleGAN** learns from *unpaired* sets, so there is no target for L1. Two generators translate "
    "both ways, and **cycle consistency** asks that there and back returns the input.",
    formula=r"\begin{aligned}&\text{pix2pix: } \mathcal{L}_{cGAN}(G, D) + \lambda \lVert y - G(x) \rVert_1 \\"
    r" &\text{cycle: } \lVert F(G(a)) - a \rVert_1 + \lVert G(F(b)) - b \rVert_1\end{aligned}",
    papers=(
        ("Isola et al. 2017, pix2pix", "https://arxiv.org/abs/1611.07004"),
        ("Zhu et al. 2017, CycleGAN", "https://arxiv.org/abs/1703.10593"),
        ("Ronneberger et al. 2015, U-Net", "https://arxiv.org/abs/1505.04597"),
    ),
)

GOODFELLOW = ("Goodfellow et al. 2014, Generative Adversarial Nets", "https://arxiv.org/abs/1406.2661")

TRAINING = Idea(
    "Two networks play a game. The generator G turns noise z into images; the discriminator D "
    "outputs the probability that an image is real. **D(x)** is its verdict on real images (it "
    "wants 1), **D(G(z))** on generated ones (it wants 0, G wants 1). At the game's equilibrium "
    "G draws from the data distribution and D can only guess: both are ½, and D's BCE loss is "
    "2 ln 2 ≈ 1.39.\n\nA **balanced run** keeps D's loss in the shaded band and D(x), D(G(z)) "
    "apart but neither at 0 nor 1. If D(G(z)) sinks to 0, D is winning and G's gradient fades; "
    "if the samples all look alike, G has collapsed onto a few modes. The tricks (label smoothing, "
    "label flipping, instance noise) make D less certain; WGAN-GP replaces D's probability with a "
    "critic whose score gap estimates the Wasserstein distance.",
    formula=r"\begin{aligned}\min_G \max_D \; & \mathbb{E}_x[\log D(x)] \\ & + \mathbb{E}_z[\log(1 - D(G(z)))]\end{aligned}",
    papers=(GOODFELLOW,
            ("Gulrajani et al. 2017, Improved Training of Wasserstein GANs", "https://arxiv.org/abs/1704.00028"),
            ("Salimans et al. 2016, Improved Techniques for Training GANs", "https://arxiv.org/abs/1606.03498")),
)

MODEL_ZOO = Idea(
    "A checkpoint is a folder: `config.json` (the model family, its constructor arguments, the data it "
    "learned from and its measured metrics), `model.safetensors` (the weights: tensors only, never a "
    "pickle that could run code) and a model card. The same folder loads from the bundled zoo, from a "
    "Hugging Face Hub repo (`hf://org/repo`) or from a training run, so what you train opens in every tab.",
    papers=(GOODFELLOW,
            ("Radford et al. 2016, DCGAN", "https://arxiv.org/abs/1511.06434")),
)

SEGMENTATION = Idea(
    "A **U-Net** (an encoder that halves the size, a decoder that doubles it back, skip connections "
    "between levels of the same size) is trained with **supervised per-pixel labels**: every pixel of "
    "the tile has one true class (park, water, building, road...) and the loss is the cross-entropy "
    "of its predicted class. **pix2pix** uses a U-Net too, but as a *generator*: it draws a map "
    "*image*, trained by an L1 term and by a discriminator that asks whether the map looks real. "
    "A segmenter is scored by **IoU** per class (overlap over union of predicted and true pixels); "
    "an adversarial image can look right while placing a road a pixel off, so its map, read back "
    "into classes by the nearest palette colour, scores lower where classes meet.",
    formula=r"\mathcal{L} = -\frac{1}{HW}\sum_{h,w}\log p_\theta(y_{hw}\mid x), \qquad "
    r"\mathrm{IoU}_c = \frac{|\hat Y_c \cap Y_c|}{|\hat Y_c \cup Y_c|}",
    papers=(
        ("Ronneberger et al. 2015, U-Net", "https://arxiv.org/abs/1505.04597"),
        ("Isola et al. 2017, pix2pix", "https://arxiv.org/abs/1611.07004"),
    ),
)

AUGMENTATION = Idea(
    "With only **K labelled digits per class**, a classifier overfits. Three ways to show it more: "
    "classic augmentation (shift and rotate the real digits), samples of a **conditional GAN** "
    "labelled with the digit it was asked for, or both. GAN samples help when the generator "
    "knows more than the K digits (here it trained on all 5,000 digits, so this is an optimistic "
    "setting) and when its samples are realistic and varied; they add little or hurt when the "
    "classifier already has enough real data, when samples are off-class or collapse to a few "
    "styles, and they are no privacy guarantee: a GAN can reproduce training images.",
    formula=r"\min_\theta\; \mathbb{E}_{(x,y)\sim \mathrm{real}_K}[\ell(f_\theta(x), y)] + "
    r"r\,\mathbb{E}_{z,\,y}[\ell(f_\theta(G(z, y)), y)]",
    papers=(
        ("Antoniou et al. 2017, Data Augmentation GANs", "https://arxiv.org/abs/1711.04340"),
        ("Mirza & Osindero 2014, Conditional GANs", "https://arxiv.org/abs/1411.1784"),
    ),
)

TRANSFER = Idea(
    "A GAN's discriminator learned to tell digits from fakes **without labels**; its body's "
    "features may already separate the classes. Freeze it, put a linear head on its features and "
    "train only the head on K labels per class; compare with the same network trained from "
    "scratch on the same labels, and with the bundled classifier trained on ~400 labels per class.",
    formula=r"\hat y = \operatorname{softmax}(W\,\phi_D(x) + b), \quad \phi_D \text{ frozen}",
    papers=(
        ("Radford et al. 2016, DCGAN (sec. 5.1)", "https://arxiv.org/abs/1511.06434"),
        ("Salimans et al. 2016, Improved Techniques for Training GANs", "https://arxiv.org/abs/1606.03498"),
    ),
)
