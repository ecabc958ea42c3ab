"""Applying trained models to other tasks: experiments whose answer is a measured number.

    augmentation.py  a digit classifier on K real digits per class, with and without classic
                     augmentation and conditional-GAN samples (Antoniou et al. 2017)
    transfer.py      a frozen GAN discriminator body as a feature extractor for few labels
                     (Radford et al. 2016, section 5.1; the CS231n project)
    semisupervised.py  the K+1-class semi-supervised GAN (Salimans et al. 2016, section 5): one
                     discriminator classifies the K labelled digits and judges real/fake on the rest
    segmentation.py  per-class IoU of a U-Net on the procedural map tiles, beside pix2pix's map
    fewshot.py       what the two classifier experiments share: K labels per class, a small
                     training loop, held-out accuracy, intervals over seeds
    jobs.py          experiments as background threads with progress and cached results

A room of its own, not ``audit/``: audit judges what a generator draws; here a generator (or a
discriminator, or a segmentation net) is *used* for a downstream task and the downstream model is
trained and scored. The training loops are small and self-contained (plain torch, CPU-sized):
``studio`` rooms do not import ``training/`` (only ``studio.live`` launches engine runs).
"""

from studio.apply.augmentation import AUGMENT_CONDITIONS, augmentation_chart, augmentation_verdict, run_augmentation
from studio.apply.fewshot import interval, few_labels, train_classifier, accuracy
from studio.apply.jobs import Job, get_job, start_job
from studio.apply.semisupervised import SGAN_CONDITIONS, run_semisupervised, semisupervised_chart, semisupervised_verdict
from studio.apply.segmentation import confusion, iou_from_confusion, segment_tile, segmentation_report
from studio.apply.transfer import TRANSFER_CONDITIONS, DiscriminatorFeatures, run_transfer, transfer_chart, transfer_verdict

__all__ = [
    "AUGMENT_CONDITIONS",
    "SGAN_CONDITIONS",
    "TRANSFER_CONDITIONS",
    "DiscriminatorFeatures",
    "Job",
    "accuracy",
    "augmentation_chart",
    "augmentation_verdict",
    "confusion",
    "few_labels",
    "get_job",
    "interval",
    "iou_from_confusion",
    "run_augmentation",
    "run_transfer",
    "run_semisupervised",
    "segment_tile",
    "segmentation_report",
    "semisupervised_chart",
    "semisupervised_verdict",
    "start_job",
    "train_classifier",
    "transfer_chart",
    "transfer_verdict",
]
