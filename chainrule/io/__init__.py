"""Saving and loading: model weights as safetensors files (`save`, `load`), and checkpoints that let a training
run continue exactly (`save_checkpoint`, `load_checkpoint`, `restore_checkpoint`). No pickle anywhere: a file
holds tensors and JSON, so loading one runs no code, and PyTorch reads the weights with safetensors.
"""

from __future__ import annotations

from chainrule.io.checkpoint import Checkpoint, load_checkpoint, restore_checkpoint, save_checkpoint
from chainrule.io.weights import load, load_metadata, save

__all__ = ["Checkpoint", "load", "load_checkpoint", "load_metadata", "restore_checkpoint", "save", "save_checkpoint"]
