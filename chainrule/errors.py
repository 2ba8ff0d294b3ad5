"""chainrule's exception types.

Each subclasses the built-in exception a Python user would catch for the same mistake, so
``except ValueError`` keeps working, while ``except chainrule.errors.ChainruleError`` catches all of ours.
Messages name the op, layer or argument, what was expected, and what was received.
"""

from __future__ import annotations


class ChainruleError(Exception):
    """Base of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """Operand shapes that do not fit the op (broadcasting, matmul, cat, a gradient's shape)."""


class DimError(ChainruleError, IndexError, ValueError):
    """A `dim` argument outside the tensor's dimensions, or repeated."""


class DTypeError(ChainruleError, TypeError):
    """A dtype the op cannot take: gradients of integer tensors, float ops on booleans, unknown dtypes."""


class ArgumentError(ChainruleError, ValueError):
    """An argument whose value is out of range or of the wrong kind (a negative size, an unknown mode)."""


class StateDictError(ArgumentError, RuntimeError):
    """A state dict that does not fit the module: missing or unexpected keys, values that are not arrays. Also a
    RuntimeError, which is what PyTorch's load_state_dict raises, so ported `except RuntimeError` code works."""


class StateDictShapeError(StateDictError, ShapeError):
    """A state dict whose value for a key has another shape than the module's parameter or buffer."""


class BackwardError(ChainruleError, RuntimeError):
    """Misuse of the backward pass: non-scalar roots without a gradient, freed graphs, in-place edits."""


class GradcheckError(ChainruleError, AssertionError):
    """`chainrule.gradcheck` found an analytic gradient that disagrees with finite differences."""


class MissingDependencyError(ChainruleError, ImportError):
    """An optional extra of chainrule is needed and not installed; the message says what to pip install."""


class NonFiniteError(ChainruleError, ValueError, RuntimeError):
    """NaN or Inf where finite numbers are required: a loss, a gradient, a parameter; the message says where."""


def shape_str(shape: tuple[int, ...]) -> str:
    """`(3, 4)` rather than numpy's `(3, 4)`-or-`(3,)` quirks: always a parenthesised, comma-separated tuple."""
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"
