"""``python -m bench NAME [args]``: run one benchmark from the registry below."""

from __future__ import annotations

import sys

from bench import api, audit, edit, generate, learn, live, metrics, mix, train, translate, ui

BENCHES = {
    "generate": generate.main,  # 16-image grid, latent -> PNG bytes, vs eager + save_image
    "translate": translate.main,  # one 256x256 image through unet_256 / resnet_9blocks, vs plain eager
    "train": train.main,  # images/s of one DCGAN training step, engine vs pytorch/examples loop
    "ui": ui.main,  # slider change -> new grid rendered in Chromium (the Streamlit app)
    "live": live.main,  # event line written -> its point in the training tab's chart in Chromium
    "api": api.main,  # /generate round trip through gradio_client, alone and 20 clients at once
    "metrics": metrics.main,  # Fréchet distance vs torchmetrics / scipy sqrtm; inception features/s vs eager
    "mix": mix.main,  # psi slider -> 4x4 style-mixing matrix rendered in Chromium (style mixing page)
    "edit": edit.main,  # strength slider -> edited face rendered in Chromium (feature editing page)
    "audit": audit.main,  # implicit-association audit, 256 samples x 20 steps each way, vs NCHW eager
    "learn": learn.main,  # wall time until an MNIST DCGAN draws digits the judge is sure of: default recipe vs the course's
    # Add further benchmarks here, one module per entry.
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHES:
        print(f"usage: python -m bench {{{','.join(BENCHES)}}} [args]  (NAME --help for its options)")
        return 2
    return BENCHES[argv[0]](argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
