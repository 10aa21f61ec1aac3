"""nabla.data: data sets and a mini-batch DataLoader over NumPy arrays.

    loader = nabla.data.DataLoader(X, y, batch_size=128, shuffle=True, seed=0)
    for epoch in range(3):
        for xb, yb in loader:     # nabla Tensors [B, D] and [B]
            ...

Each epoch's order is a seeded shuffle of (seed, epoch) alone. A float32
C-contiguous X is shared with the loader, anything else converted once.
"""
from ._nabla import data as _cdata
from ._nabla.data import (  # noqa: F401
    FASHION_MNIST_DIR, Dataset, Normalizer, TrainTest, fashion_mnist_class_names, load_fashion_mnist,
    load_idx_folder, read_csv, read_idx_images, read_idx_labels, train_validation_split)


class DataLoader:
    """Mini-batches (features, labels) of a Dataset or of arrays X [N, D] and y [N]."""

    def __init__(self, features, labels=None, batch_size=64, shuffle=True, drop_last=False, seed=0):
        if isinstance(features, Dataset):
            if labels is not None:
                raise TypeError("DataLoader: labels come with the Dataset")
            self._loader = _cdata._DataLoader(features, batch_size, shuffle, drop_last, seed)
        else:
            self._loader = _cdata._DataLoader.from_arrays(features, labels, batch_size, shuffle, drop_last, seed)
        self._has_labels = labels is not None or isinstance(features, Dataset)

    def __len__(self):
        return len(self._loader)

    def __iter__(self):
        """One epoch; the next iteration runs the next epoch (a fresh shuffle)."""
        loader = self._loader
        while True:
            b = loader.next()
            if b is None:
                return
            yield b if self._has_labels else b[0]

    @property
    def epoch(self):
        return self._loader.epoch

    def set_epoch(self, epoch):
        self._loader.set_epoch(epoch)

    @property
    def num_samples(self):
        return self._loader.num_samples

    def order(self):
        """The row order of the current epoch."""
        return self._loader.order()
