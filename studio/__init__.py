"""GAN Studio core: models, checkpoints, data, latent tools and metrics. Never imports a UI."""
