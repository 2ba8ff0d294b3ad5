"""`chainrule.data`: datasets, samplers and the DataLoader (PyTorch's `torch.utils.data`), built-in datasets ready
for training, and loaders for IDX (MNIST), CSV and .npz files."""

from __future__ import annotations

from chainrule.data._common import LabeledData, MissingDependencyError
from chainrule.data.collate import default_collate, default_convert
from chainrule.data.dataloader import DataLoader
from chainrule.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from chainrule.data.datasets import (
    DatasetInfo,
    available_datasets,
    breast_cancer,
    dataset_info,
    diabetes,
    digits,
    get_dataset,
    iris,
    regression,
    spirals,
    two_moons,
    wine,
)
from chainrule.data.files import load_csv, load_idx, load_mnist, load_npz
from chainrule.data.mnist1d import mnist1d, mnist1d_templates
from chainrule.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from chainrule.data.split import train_test_split

__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DatasetInfo",
    "LabeledData",
    "MissingDependencyError",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "available_datasets",
    "breast_cancer",
    "dataset_info",
    "default_collate",
    "default_convert",
    "diabetes",
    "digits",
    "get_dataset",
    "iris",
    "load_csv",
    "load_idx",
    "load_mnist",
    "load_npz",
    "mnist1d",
    "mnist1d_templates",
    "random_split",
    "regression",
    "spirals",
    "train_test_split",
    "two_moons",
    "wine",
]
