"""GAN Studio core: everything the two UIs show, as plain data (numpy images, numbers, plotly figures).

One room per capability (each package's docstring says what it owns):

    models/       model families, one file each        data/        datasets
    checkpoints/  format, the loader, Hub, zoo, public weights
    explore/      latent walks, truncation, feature editing, StyleGAN style mixing
    audit/        judging samples: classifier measures, FID/KID/IS/PR, bias audits
    translate/    image-to-image translation            live/        training runs from a UI
    accel/        fast display paths (one small interface)
    apply/        GANs applied: augmentation, discriminator transfer, segmentation scores
    imaging.py, charts.py, training_charts.py, errors.py: shared by all rooms
    api/: one function per HTTP endpoint of the Gradio app; ideas.py: each page's idea text
    evaluate.py: the metrics CLI (python -m studio.evaluate)

Rules: ``studio`` never imports Streamlit or Gradio. Imports point one way, pages -> rooms ->
models/data, with no circles. Only ``studio.live`` uses ``training/``, at call time.
"""
