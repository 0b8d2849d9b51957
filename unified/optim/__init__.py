"""unified.optim: optimizers with torch.optim's names, arguments and update formulas (SGD,
Adam, AdamW, RMSprop on the Optimizer base class) and learning-rate schedulers in
unified.optim.lr_scheduler. Every update runs registered ops in place under no_grad."""

from unified.optim import lr_scheduler
from unified.optim.adam import Adam
from unified.optim.adamw import AdamW
from unified.optim.optimizer import Optimizer
from unified.optim.rmsprop import RMSprop
from unified.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
