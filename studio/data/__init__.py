"""Datasets of the studio: every one is an in-memory ``ImageTensorDataset`` of
(C, H, W) float32 images in [-1, 1] with int labels, ``.classes``, ``.targets`` and ``.images``.

    from studio.data import get_dataset
    digits = get_dataset("mnist", split="train", image_size=32)
    horses_zebras = get_dataset("animals", classes=("horse", "zebra"))
    cars = get_dataset("folder", path="cars.zip", image_size=100)
"""

from __future__ import annotations

from collections.abc import Callable

from studio.data.animals import ANIMAL_CLASSES, animals
from studio.data.folders import FolderDataset, image_folder
from studio.data.mnist import DIGIT_CLASSES, SPLITS, ImageTensorDataset, mnist, stratified_split
from studio.errors import DataError

# Paired / unpaired translation datasets (studio/data/maps.py, studio/data/translation.py):
# their imports go here, and their entries into DATASETS below.
from studio.data.maps import MAP_CLASSES, MAP_PALETTE, MapsDataset, MapsSegmentation, class_colours, map_classes, maps_pair
from studio.data.translation import HorseZebra, PairedFolder, UnpairedFolders

# Cartoon faces with exact attributes (studio/data/faces.py)
from studio.data.faces import ATTRIBUTES, WORLDS, FacesDataset, World, faces, faces_fair

DATASETS: dict[str, Callable[..., ImageTensorDataset]] = {
    "mnist": mnist,
    "animals": animals,
    "folder": image_folder,
    # maps / translation entries go here
    "maps": MapsDataset,
    "maps-segmentation": MapsSegmentation,
    "horse2zebra": HorseZebra,
    "paired_folder": PairedFolder,
    "unpaired_folders": UnpairedFolders,
    # faces entries go here
    "faces": faces,  # the biased world
    "faces_fair": faces_fair,
}


def get_dataset(name: str, **kwargs) -> ImageTensorDataset:
    """Build the dataset registered as ``name`` with its own keyword arguments."""
    try:
        build = DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}") from None
    return build(**kwargs)


__all__ = [
    "ANIMAL_CLASSES",
    "DATASETS",
    "DIGIT_CLASSES",
    "SPLITS",
    "DataError",
    "FolderDataset",
    "ImageTensorDataset",
    "animals",
    "get_dataset",
    "image_folder",
    "mnist",
    "stratified_split",
    # maps / translation exports go here
    "MAP_CLASSES",
    "MAP_PALETTE",
    "HorseZebra",
    "MapsDataset",
    "MapsSegmentation",
    "class_colours",
    "PairedFolder",
    "UnpairedFolders",
    "map_classes",
    "maps_pair",
    # faces exports go here
    "ATTRIBUTES",
    "WORLDS",
    "FacesDataset",
    "World",
    "faces",
]
