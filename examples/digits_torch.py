"""scikit-learn's bundled digits and a small MLP, for the PyTorch examples (no download)."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits


def digits_loaders(batchsize: int, seed: int = 0):
    """scikit-learn's bundled 1797 8×8 digits, scaled to [0, 1]; 80/20 split."""
    train, test = digits_datasets(seed)
    return (torch.utils.data.DataLoader(train, batch_size=batchsize, shuffle=True,
                                        generator=torch.Generator().manual_seed(seed)),
            torch.utils.data.DataLoader(test, batch_size=batchsize))


def digits_datasets(seed: int = 0):
    """The digits as two ``TensorDataset`` (x, t): 80 % to train, 20 % to test."""
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    t = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    split = int(len(x) * 0.8)
    return (torch.utils.data.TensorDataset(x[order[:split]], t[order[:split]]),
            torch.utils.data.TensorDataset(x[order[split:]], t[order[split:]]))


def mlp() -> torch.nn.Module:
    """64 inputs, two hidden layers of 100, 10 classes."""
    return torch.nn.Sequential(torch.nn.Linear(64, 100), torch.nn.ReLU(),
                               torch.nn.Linear(100, 100), torch.nn.ReLU(),
                               torch.nn.Linear(100, 10))
