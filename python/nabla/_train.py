"""nabla.train(): the training loop of the `nabla train` command, with the same options."""
from . import _nabla

# option name (as the command spells it, minus the dashes) → TrainConfig field
_ALIASES = {
    "label": "label_column",
    "validation": "validation_fraction",
    "warmup": "warmup_epochs",
}


def train(out="", resume="", on_epoch=None, on_batch=None, **options):
    """Trains as `nabla train` does and returns each epoch's metrics (a list of dicts).

    options are the command's, with underscores: data="fashion-mnist", label="label",
    layers=[784, 256, 128, 10] (or "784,256,128,10"), activation, output, init, loss,
    optimizer, lr, momentum, weight_decay, schedule, warmup, clip_grad_norm,
    batch_size, epochs, seed, validation, normalize, threads. out: the checkpoint
    written after every epoch ("" for none); resume: a checkpoint to continue from.
    on_epoch(metrics) and on_batch(progress) are called with dicts.
    """
    c = _nabla.TrainConfig()
    for key, value in options.items():
        field = _ALIASES.get(key, key)
        if not hasattr(c, field) or field.startswith("_") or callable(getattr(c, field)):
            raise TypeError(f"train: unknown option '{key}'")
        if field == "layers" and isinstance(value, str):
            value = [int(v) for v in value.split(",")]
        setattr(c, field, value)
    t = _nabla.Trainer(c)
    if resume:
        t.resume(resume)
    return t.fit(out, on_epoch=on_epoch, on_batch=on_batch)
