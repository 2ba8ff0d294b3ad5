"""Module: the base of every layer and model.

A Module registers the Parameters, buffers and sub-modules assigned to its attributes, in three ordered
registries (`_parameters`, `_buffers`, `_modules`) from which `parameters()`, `state_dict()` and the rest are
read, with PyTorch's dotted key names ("encoder.0.weight"). Each registered value also stays in the instance
`__dict__`, so `self.weight` in a forward pass is a plain attribute lookup; `__setattr__` and `__delattr__`
keep the two in sync.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from chainrule.errors import ArgumentError, DTypeError, StateDictError, StateDictShapeError, shape_str
from chainrule.nn.parameter import Parameter
from chainrule.tensor import DTypeLike, Tensor, as_dtype

__all__ = ["IncompatibleKeys", "Module", "RemovableHandle"]


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict` did not match: model keys absent from the state dict, and the reverse."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


class RemovableHandle:
    """Returned by the hook registrations: `handle.remove()` unregisters the hook (also usable as `with`)."""

    _ids = itertools.count()

    def __init__(self, hooks: OrderedDict, *extra: set) -> None:
        self.id = next(RemovableHandle._ids)
        self._hooks = hooks
        self._extra = extra

    def remove(self) -> None:
        self._hooks.pop(self.id, None)
        for flags in self._extra:
            flags.discard(self.id)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line if line.strip() else "" for line in lines[1:])


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _check_name(name: Any, kind: str) -> None:
    if not isinstance(name, str):
        raise ArgumentError(f"{kind} name should be a string, got {_type_name(name)}")
    if "." in name:
        raise ArgumentError(f'{kind} name can\'t contain ".", got {name!r}')
    if name == "":
        raise ArgumentError(f'{kind} name can\'t be the empty string ""')


def _as_loaded_array(value: Any) -> np.ndarray | None:
    """A state-dict value as an ndarray: our Tensors, ndarrays, PyTorch tensors (through `.numpy()`), anything
    with `__array__`. None when it is not array-like."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "numpy") and callable(value.numpy):
        if hasattr(value, "detach"):  # a torch tensor that requires grad refuses .numpy()
            value = value.detach()
        if hasattr(value, "cpu"):
            value = value.cpu()
        return np.asarray(value.numpy())
    if hasattr(value, "__array__") or isinstance(value, int | float | list):
        return np.asarray(value)
    return None


class Module:
    """Base class of layers and models. Subclasses call `super().__init__()` first, assign Parameters and
    sub-modules as attributes, and define `forward`; calling the module runs `forward` (and any hooks)."""

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _modules: dict[str, Module | None]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise ArgumentError(
                f"{type(self).__name__}.__init__() got unexpected arguments {args!r} {kwargs!r}: Module's own "
                "__init__ takes none"
            )
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_modules", {})
        setattr_(self, "_forward_pre_hooks", OrderedDict())
        setattr_(self, "_forward_pre_hooks_with_kwargs", set())
        setattr_(self, "_forward_hooks", OrderedDict())
        setattr_(self, "_forward_hooks_with_kwargs", set())

    # -- calling ------------------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        pre_with_kwargs = self._forward_pre_hooks_with_kwargs
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in pre_with_kwargs:
                replaced = hook(self, args, kwargs)
                if replaced is not None:
                    if not (isinstance(replaced, tuple) and len(replaced) == 2):
                        raise ArgumentError(
                            "forward pre-hook registered with_kwargs=True must return None or a tuple "
                            f"(args, kwargs), got {_type_name(replaced)}"
                        )
                    args, kwargs = replaced
            else:
                replaced = hook(self, args)
                if replaced is not None:
                    args = replaced if isinstance(replaced, tuple) else (replaced,)
        output = self.forward(*args, **kwargs)
        with_kwargs = self._forward_hooks_with_kwargs
        for hook_id, hook in list(self._forward_hooks.items()):
            if hook_id in with_kwargs:
                replaced = hook(self, args, kwargs, output)
            else:
                replaced = hook(self, args, output)
            if replaced is not None:
                output = replaced
        return output

    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Call `hook(module, args)` before each forward; a returned value replaces the positional inputs
        (a single value is wrapped in a tuple). With `with_kwargs=True` the hook is `hook(module, args, kwargs)`
        and may return `(args, kwargs)`. `prepend=True` runs it before the hooks already registered."""
        handle = RemovableHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs.add(handle.id)
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Call `hook(module, args, output)` after each forward; a returned value replaces the output. With
        `with_kwargs=True` the hook is `hook(module, args, kwargs, output)`."""
        handle = RemovableHandle(self._forward_hooks, self._forward_hooks_with_kwargs)
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs.add(handle.id)
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    # -- registration ---------------------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        state = self.__dict__
        params = state.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, params)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise ArgumentError(
                    f"cannot assign {_type_name(value)} as parameter '{name}' of {type(self).__name__} "
                    "(a chainrule.nn.Parameter or None expected; wrap a tensor in nn.Parameter(...))"
                )
            params[name] = None
            state[name] = None
        elif isinstance(value, Module):
            modules = state.get("_modules")
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, modules)
            modules[name] = value
            state[name] = value
        elif name in state.get("_modules", ()):
            if value is not None:
                raise ArgumentError(
                    f"cannot assign {_type_name(value)} as child module '{name}' of {type(self).__name__} "
                    "(a chainrule.nn.Module or None expected)"
                )
            self._modules[name] = None
            state[name] = None
        elif name in state.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise ArgumentError(
                    f"cannot assign {_type_name(value)} as buffer '{name}' of {type(self).__name__} "
                    "(a chainrule.Tensor or None expected)"
                )
            self._buffers[name] = value
            state[name] = value
        else:
            object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)
            return
        self.__dict__.pop(name, None)

    def _forget(self, name: str, keep: dict) -> None:
        """Drop `name` from the instance dict and from every registry but `keep`, before it is registered in
        `keep` (where a re-assigned name keeps its place, so state_dict order does not change)."""
        self.__dict__.pop(name, None)
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def _check_new_name(self, name: str, registry: dict, kind: str) -> None:
        _check_name(name, kind)
        if name not in registry and hasattr(self, name):
            raise ArgumentError(f"{type(self).__name__}: attribute '{name}' already exists; cannot register a {kind}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register `param` (a Parameter, or None for an optional one such as a disabled bias) as `name`."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_new_name(name, self._parameters, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise ArgumentError(
                f"cannot assign {_type_name(param)} object to parameter '{name}' "
                "(a chainrule.nn.Parameter or None required)"
            )
        self._parameters[name] = param
        self.__dict__[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is part of the module's state but not learned (running statistics).
        Persistent buffers appear in `state_dict()`; all move with `to(dtype)`."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_new_name(name, self._buffers, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise ArgumentError(
                f"cannot assign {_type_name(tensor)} object to buffer '{name}' (a chainrule.Tensor or None required)"
            )
        self._buffers[name] = tensor
        self.__dict__[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register `module` as the child `name` (what `self.name = module` does, for names that are not
        identifiers, such as "0")."""
        if module is not None and not isinstance(module, Module):
            raise ArgumentError(f"add_module: {_type_name(module)} is not a Module subclass")
        if "_modules" not in self.__dict__:
            raise AttributeError("cannot assign module before Module.__init__() call")
        self._check_new_name(name, self._modules, "module")
        self._modules[name] = module
        self.__dict__[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The sub-module at the dotted path `target` ("" is self)."""
        module: Any = self
        if target == "":
            return module
        walked = []
        for part in target.split("."):
            children = module._modules if isinstance(module, Module) else {}
            if part not in children or children[part] is None:
                where = ".".join(walked) or type(self).__name__
                raise ArgumentError(f"get_submodule: {where} has no sub-module '{part}' (looking up '{target}')")
            module = children[part]
            walked.append(part)
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The Parameter at the dotted path `target` ("encoder.0.weight")."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if module._parameters.get(name) is None:
            raise ArgumentError(f"get_parameter: no parameter '{target}' in {type(self).__name__}")
        return module._parameters[name]  # type: ignore[return-value]

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at the dotted path `target`."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if module._buffers.get(name) is None:
            raise ArgumentError(f"get_buffer: no buffer '{target}' in {type(self).__name__}")
        return module._buffers[name]  # type: ignore[return-value]

    # -- iteration ------------------------------------------------------------------------------------------
    def named_modules(
        self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for self ("") and every sub-module, depth first, each module once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub_prefix = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub_prefix, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for the direct sub-modules, each once."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(
        self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Any]]:
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        seen = set()
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs; a Parameter shared by two layers comes once, under its first name."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every Parameter of the module (and of its sub-modules when `recurse`), each once."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of scalar weights (each shared Parameter counted once); only those that require grad
        when `trainable_only`."""
        return sum(p.data.size for p in self.parameters() if p.requires_grad or not trainable_only)

    count_parameters = num_parameters

    # -- state ----------------------------------------------------------------------------------------------
    def state_dict(
        self, destination: dict | None = None, prefix: str = "", keep_vars: bool = False
    ) -> OrderedDict[str, Tensor]:
        """An ordered mapping from PyTorch-style dotted names to the parameters and persistent buffers: per
        module, its parameters, then its buffers, then its children's entries. Values share the model's arrays
        (detached tensors) unless `keep_vars`, which returns the Parameters themselves."""
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination  # type: ignore[return-value]

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        skip = self._non_persistent_buffers_set
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in skip:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values from `state_dict` (ours or PyTorch's: Tensors, ndarrays or torch tensors) into the
        existing parameters and buffers, keeping the model's dtypes and Parameter objects.

        A value whose shape differs from the model's raises StateDictShapeError (a ShapeError). With `strict`, keys
        of the model missing from `state_dict`, or keys of `state_dict` the model does not have, raise
        StateDictError listing them (both are RuntimeErrors, as PyTorch's, and ValueErrors);
        otherwise they are returned as (missing_keys, unexpected_keys). Nothing is copied if an error is raised.
        """
        if not isinstance(state_dict, Mapping):
            raise ArgumentError(f"load_state_dict: expected a dict of name -> tensor, got {_type_name(state_dict)}")
        targets: dict[str, Tensor] = {}
        for prefix, module in self.named_modules(remove_duplicate=False):
            module_prefix = prefix + "." if prefix else ""
            skip = module._non_persistent_buffers_set
            for name, value in itertools.chain(
                module._parameters.items(), ((k, v) for k, v in module._buffers.items() if k not in skip)
            ):
                if value is not None:
                    targets[module_prefix + name] = value

        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        problems = []
        shape_problem = False
        copies = []
        for key, target in targets.items():
            if key not in state_dict:
                continue
            array = _as_loaded_array(state_dict[key])
            if array is None:
                problems.append(f"'{key}': expected a tensor or array, got {_type_name(state_dict[key])}")
                continue
            if array.shape != target.data.shape:
                if target.data.ndim == 0 and array.shape == (1,):
                    array = array.reshape(())
                else:
                    shape_problem = True
                    problems.append(
                        f"size mismatch for '{key}': the state dict has shape {shape_str(array.shape)}, the "
                        f"model has {shape_str(target.data.shape)}"
                    )
                    continue
            copies.append((target, array))
        if strict:
            if missing:
                problems.append("missing key(s) in state_dict: " + ", ".join(f"'{k}'" for k in missing))
            if unexpected:
                problems.append("unexpected key(s) in state_dict: " + ", ".join(f"'{k}'" for k in unexpected))
        if problems:
            message = f"Error(s) in loading state_dict for {type(self).__name__}:\n  " + "\n  ".join(problems)
            raise (StateDictShapeError if shape_problem else StateDictError)(message)
        for target, array in copies:
            # In place, into the model's own array and dtype: optimizers holding the Parameters see the values.
            np.copyto(target.data, array, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    # -- modes and bulk edits -------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch statistics used) on this module and all sub-modules."""
        if not isinstance(mode, bool | np.bool_):
            raise ArgumentError(f"train: mode must be a bool, got {mode!r}")
        self.training = bool(mode)
        for module in self.children():
            module.train(mode)  # through each child's own train(), which a layer may override
        return self

    def eval(self) -> Module:
        """Set evaluation mode: `train(False)`."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set `requires_grad` of every parameter (False freezes the module)."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: drop them (None), or fill them with zeros in place."""
        for param in self.parameters():
            if param.grad is not None:
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.data[...] = 0

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call `fn` on every sub-module (children first) and then on self; for custom initialisation."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _apply_dtype(self, dtype: np.dtype) -> Module:
        """Convert floating-point parameters, their gradients and floating-point buffers to `dtype`, in place:
        the Parameter and buffer objects stay the same, only their arrays change."""
        seen = set()
        for module in self.modules():
            for tensor in itertools.chain(module._parameters.values(), module._buffers.values()):
                if tensor is None or id(tensor) in seen or tensor.data.dtype.kind != "f":
                    continue
                seen.add(id(tensor))
                if tensor.data.dtype != dtype:
                    tensor.data = tensor.data.astype(dtype)
                grad = tensor.grad
                if grad is not None and grad.data.dtype != dtype:
                    grad.data = grad.data.astype(dtype)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """`to(dtype)`, `to("cpu")`, `to("cpu", dtype)`, `to(dtype=...)` or `to(tensor)` (its dtype): converts
        floating-point parameters and buffers in place; returns self. The only device is the CPU."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise ArgumentError(f"to: unexpected keyword arguments {sorted(kwargs)}")
        for arg in args:
            if isinstance(arg, Tensor):
                dtype = arg.data.dtype
            elif isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda", "mps"):
                device = arg
            else:
                dtype = arg
        if device is not None and not str(device).startswith("cpu"):
            raise ArgumentError(f"to: chainrule runs on the CPU only, got device {device!r}")
        if dtype is None:
            return self
        resolved = as_dtype(dtype)
        if resolved.kind != "f":
            raise DTypeError(f"Module.to only accepts floating-point dtypes, got {resolved}")
        return self._apply_dtype(resolved)

    def float(self) -> Module:
        return self._apply_dtype(np.dtype(np.float32))

    def double(self) -> Module:
        return self._apply_dtype(np.dtype(np.float64))

    def half(self) -> Module:
        return self._apply_dtype(np.dtype(np.float16))

    def type(self, dst_type: DTypeLike) -> Module:
        return self.to(dst_type)

    def cpu(self) -> Module:
        return self

    # -- printing -------------------------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The layer's settings, shown inside its repr ("in_features=784, out_features=10, bias=True")."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        text = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"
