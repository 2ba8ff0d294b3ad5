"""Optimizers and learning-rate schedulers, PyTorch's `torch.optim`: SGD, Adam, AdamW, RMSprop, Adagrad and
`chainrule.optim.lr_scheduler`. They update `param.data` in place with NumPy, outside the graph."""

from chainrule.optim import lr_scheduler
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
