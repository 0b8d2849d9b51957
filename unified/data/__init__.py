"""unified.data: torch.utils.data's names (Dataset, TensorDataset, random_split, DataLoader,
samplers, default_collate), so `from unified.data import DataLoader` replaces
`from torch.utils.data import DataLoader`. One concept per file; this module only re-exports."""

from unified.data.collate import default_collate, default_convert
from unified.data.dataloader import DataLoader
from unified.data.dataset import (ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,
                                  random_split)
from unified.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                                  SubsetRandomSampler)

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler",
           "TensorDataset", "default_collate", "default_convert", "random_split"]
