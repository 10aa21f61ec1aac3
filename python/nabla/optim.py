"""nabla.optim: optimizers (PyTorch's update rules), gradient clipping, schedules."""
from ._nabla.optim import (  # noqa: F401
    SGD, Adam, AdamW, CosineAnnealingLR, LRScheduler, Optimizer, StepLR, WarmupLR, clip_grad_norm_)
