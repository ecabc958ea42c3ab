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

FEATURE_EDITING = Idea(
    "A classifier tells us what an image shows; its gradient tells us how to change $z$ so that it "
    "shows more of it (**classifier gradient**, the course's method). Or fit a linear SVM to sampled "
    "$(z, \\text{attribute})$ pairs and move along the hyperplane's unit normal $n$ (**linear "
    "direction**, InterFaceGAN). Features are **entangled**: in the biased world glasses come with "
    "hats, so adding a hat tends to add glasses too (watch every curve move). Two cures: penalise "
    "changes of the other logits (**keep other attributes**, weight $\\lambda$), or project the kept "
    "attributes' normals out of $n$ (**conditional** direction, $n' \\perp$ the kept normals; it goes "
    "$d / (n' \\cdot n)$ along $n'$, so the target moves as far as on $n$). Neither cure works when "
    "the GAN learned two attributes as one: in **faces-dcgan-sharp** the hat and glasses normals have "
    "cosine 0.88, and even $n'$ adds glasses with the hat on most seeds (compare faces-dcgan). The "
    "classifier is the judge: its mistakes are in every number here.",
    formula=r"\begin{aligned}z &\leftarrow z + \alpha\,\nabla_z\big[s\,\ell_t(G(z)) - \lambda\,"
    r"\lVert \ell_{\neg t}(G(z)) - \ell_{\neg t}(G(z_0))\rVert_2\big] \\ "
    r"z' &= z + d\,n \quad\text{or}\quad z + \tfrac{d}{n' \cdot n}\,n', \quad n' = \frac{n - QQ^\top n}{\lVert n - QQ^\top n\rVert}\end{aligned}",
    papers=(
        ("Shen et al. 2020, InterFaceGAN: Interpreting the Latent Space of GANs for Semantic Face Editing",
         "https://arxiv.org/abs/1907.10786"),
        ("Goetschalckx et al. 2019, GANalyze (classifier-guided latent steps)", "https://arxiv.org/abs/1906.10112"),
        ("Liu et al. 2015, CelebA attributes (the course's faces)", "https://arxiv.org/abs/1411.7766"),
    ),
)

BIAS_AUDIT = Idea(
    "**Implicit associations**: push one attribute of N samples up and down for K gradient steps and "
    "see which other attributes move with it (each dot is a sample; the line is a least-squares fit "
    "with its 95% band; the ranking is by covariance). Beside it, the training world's *true* "
    "correlation (the faces are drawn from known rates) and the correlation among the GAN's own "
    "samples: did the GAN inherit, amplify or weaken the bias? **Fairness** of a downstream "
    "\"smiling\" classifier by skin group: demographic parity compares how often each group is "
    "called smiling, equal opportunity compares true-positive rates, equalized odds the worse of TPR "
    "and FPR gaps, each with a bootstrap 95% interval (fairlearn). **De-biasing** (Ramaswamy et al.): "
    "add GAN pairs $(z, z')$ whose $z'$ keeps the target's score and mirrors skin.",
    formula=r"\mathrm{EO} = \max_g \mathrm{TPR}_g - \min_g \mathrm{TPR}_g,\qquad "
    r"\mathrm{DP} = \max_g P(\hat Y = 1 \mid g) - \min_g P(\hat Y = 1 \mid g)",
    papers=(
        ("Mitchell et al. 2021, Algorithmic Fairness: Choices, Assumptions, and Definitions",
         "https://arxiv.org/abs/1811.07867"),
        ("Ramaswamy et al. 2021, Fair Attribute Classification through Latent Space De-biasing",
         "https://arxiv.org/abs/2012.01469"),
        ("Bird et al. 2020, Fairlearn", "https://www.microsoft.com/en-us/research/publication/fairlearn-a-toolkit-for-assessing-and-improving-fairness-in-ai/"),
    ),
)

STYLE_MIXING = Idea(
    "StyleGAN's **mapping network** turns $z$ into a style vector $w$; every convolution of the "
    "**synthesis network** reads its own copy of $w$ through **AdaIN**, which rescales and shifts "
    "each normalised feature map. Feeding the copies of one image's $w$ to some layers and another "
    "image's to the rest **mixes styles** (the paper's figure 3): the rows keep their styles, the "
    "columns' styles replace them at the chosen resolutions. **Coarse** layers (4x4, 8x8) decide "
    "pose and shape (for digits: which digit), **middle** layers smaller features, **fine** layers "
    "stroke texture and colour. **Noise** added at each layer (scaled per channel) draws the "
    "stochastic details; the per-pixel standard deviation over 16 noise draws shows where. "
    "**Truncation in W** pulls $w$ towards the average style $\\bar w$ on the first *cutoff* layers "
    "(no cutoff: all layers): $\\psi = 1$ changes nothing, $\\psi = 0$ is the average image. "
    "AdaIN's blind spot: it normalises each map by that map's own statistics, so a generator can plant one "
    "strong spike that sets them. StyleGAN2 calls these **droplets** and replaced AdaIN because of them; "
    "faces-stylegan draws one as a white speck in the bottom-left corner.",
    formula=r"\mathrm{AdaIN}(x_i, y) = y_{s,i}\,\frac{x_i - \mu(x_i)}{\sigma(x_i)} + y_{b,i}"
    r"\qquad w' = \bar w + \psi\,(w - \bar w)",
    papers=(
        ("Karras, Laine & Aila 2019, StyleGAN", "https://arxiv.org/abs/1812.04948"),
        ("Karras et al. 2018, Progressive Growing of GANs", "https://arxiv.org/abs/1710.10196"),
        ("Huang & Belongie 2017, AdaIN", "https://arxiv.org/abs/1703.06868"),
        ("Karras et al. 2020, StyleGAN2 (droplets, section 2)", "https://arxiv.org/abs/1912.04958"),
    ),
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

SEMISUPERVISED = Idea(
    "Instead of training a GAN first and borrowing its discriminator, train **one network that is "
    "both**: the discriminator gets ten logits $l_1..l_{10}$, one per digit, and an implicit "
    "eleventh class **fake** whose logit is fixed at 0. Its softmax over the ten classes classifies a "
    "digit; $D(x) = Z(x)/(Z(x)+1)$ with $Z = \\sum_k e^{l_k}$ is the probability that $x$ is real. "
    "The labelled digits (K per class) train it by cross-entropy; the other 4,000 train digits, "
    "**without labels**, and the generator's digits train it as a GAN discriminator; the generator "
    "learns by **feature matching** (its digits must give the same mean features in D's last hidden "
    "layer as real ones), the paper's choice for semi-supervised learning: it gave better "
    "classifiers than the usual generator loss or minibatch discrimination. The unlabelled digits "
    "teach D where real digits lie, and the generator's near-misses push its class boundaries into "
    "the empty space between them. Compared with the same discriminator trained on the labels only.",
    formula=r"\begin{gathered}L_D = -\mathbb{E}_{(x,y)\sim\mathrm{lab}}\log p(y\mid x, y\le 10) "
    r"- \mathbb{E}_{x\sim\mathrm{unl}}\log D(x) - \mathbb{E}_{z}\log\big(1 - D(G(z))\big) \\ "
    r"D(x) = \frac{Z(x)}{Z(x)+1},\quad Z(x) = \sum_{k=1}^{10} e^{l_k(x)} \\ "
    r"L_G = \big\lVert \mathbb{E}_x f(x) - \mathbb{E}_z f(G(z)) \big\rVert_2^2\end{gathered}",
    papers=(
        ("Salimans et al. 2016, Improved Techniques for Training GANs (sec. 3.1, 5)", "https://arxiv.org/abs/1606.03498"),
        ("Odena 2016, Semi-Supervised Learning with GANs", "https://arxiv.org/abs/1606.01583"),
    ),
)

EVALUATION = Idea(
    "A GAN is judged on **features**, not pixels: a network maps every image to a vector, and the "
    "real and generated sets are compared there. **FID** fits a Gaussian to each set and measures the "
    "Fréchet distance between them (lower is better). **KID** is an unbiased squared MMD with the "
    "kernel $k(x, y) = (x^\\top y / d + 1)^3$. The **Inception score** rewards confident, varied class "
    "predictions $p(y|x)$ (with the MNIST classifier it is a *classifier score*); it never looks at "
    "real data. **Precision** is the share of samples inside the real manifold (the union of k-NN "
    "balls, k = 3): fidelity; **recall** the share of real images inside the generated one: diversity. "
    "Truncation buys precision with recall.\n\n"
    "**Small samples read high:** $\\mathrm{FID}_N \\approx \\mathrm{FID}_\\infty + c/N$, so a FID from "
    "a few hundred samples is biased upward and compares only at equal $N$; FID∞ extrapolates the line "
    "to $1/N = 0$. The intervals are bootstrap percentiles: they show how the value at this $N$ varies, "
    "not the bias. **Extractors disagree:** each network has its own feature space (dimension, scale, "
    "what it was trained to notice) and its own input size, so the extractor and the resize are part "
    "of every number's name. For 32 px digits the MNIST classifier's features are the right space; "
    "TF-Inception (the papers' FID) sees blurry upscaled strokes and is slow on a CPU.",
    formula=r"\mathrm{FID} = \lVert \mu_r - \mu_g \rVert^2 + \operatorname{tr}\big(\Sigma_r + \Sigma_g"
    r" - 2\,(\Sigma_r^{1/2} \Sigma_g \Sigma_r^{1/2})^{1/2}\big), \qquad "
    r"\mathrm{IS} = \exp\, \mathbb{E}_x\, \mathrm{KL}\big(p(y|x)\,\Vert\, p(y)\big)",
    papers=(
        ("Heusel et al. 2017, FID (TTUR)", "https://arxiv.org/abs/1706.08500"),
        ("Bińkowski et al. 2018, KID (Demystifying MMD GANs)", "https://arxiv.org/abs/1801.01401"),
        ("Salimans et al. 2016, Inception score", "https://arxiv.org/abs/1606.03498"),
        ("Kynkäänniemi et al. 2019, Improved precision and recall", "https://arxiv.org/abs/1904.06991"),
        ("Naeem et al. 2020, Density and coverage", "https://arxiv.org/abs/2002.09797"),
        ("Chong & Forsyth 2020, Effectively unbiased FID (FID∞)", "https://arxiv.org/abs/1911.07023"),
        ("Parmar et al. 2022, Aliased resizing in GAN evaluation", "https://arxiv.org/abs/2104.11222"),
        ("Kynkäänniemi et al. 2023, ImageNet classes in FID", "https://arxiv.org/abs/2203.06026"),
    ),
)
