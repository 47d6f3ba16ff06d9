"""Fake (meta) kernels and autograd for the compiled ``adaunpool::`` ops.

The schemas live in ``csrc/adaunpool.cpp``; the CPU and CUDA kernels register themselves there. Here,
next to the Python side, each forward op gets ``register_fake`` (so ``torch.compile(fullgraph=True)``
traces it without a graph break) and ``register_autograd``, whose backward is its own op.
"""

from __future__ import annotations

import torch

_REGISTERED = False


def _out_shape(x: torch.Tensor, kernel, stride) -> list[int]:
    n, c = x.shape[:2]
    return [n, c] + [(x.shape[2 + d] - kernel[d]) // stride[d] + 1 for d in range(3)]


def _adapool_fake(x, kernel, stride, beta, dsc, return_weights):
    shape = _out_shape(x, kernel, stride)
    K = kernel[0] * kernel[1] * kernel[2]
    y = x.new_empty(shape)
    w = x.new_empty(shape + [K]) if return_weights else x.new_empty([0])
    return y, w


def _adapool_backward_fake(grad_y, grad_w, x, kernel, stride, beta, dsc):
    return torch.empty_like(x, memory_format=torch.contiguous_format), beta.new_empty(grad_y.shape)


def _adaunpool_fake(y, w, kernel, stride, mode, size):
    return y.new_empty(list(y.shape[:2]) + list(size))


def _adaunpool_backward_fake(grad_u, y, w, kernel, stride, mode, size):
    return torch.empty_like(y, memory_format=torch.contiguous_format), torch.empty_like(w, memory_format=torch.contiguous_format)


def _adapool_setup(ctx, inputs, output):
    x, kernel, stride, beta, dsc, _ = inputs
    ctx.save_for_backward(x, beta)
    ctx.args = (kernel, stride, dsc)


def _adapool_backward(ctx, grad_y, grad_w):
    x, beta = ctx.saved_tensors
    kernel, stride, dsc = ctx.args
    if grad_w is not None and grad_w.numel() == 0:
        grad_w = None
    gx, gb = torch.ops.adaunpool.adapool_backward(grad_y, grad_w, x, kernel, stride, beta, dsc)
    return gx, None, None, gb, None, None


def _adaunpool_setup(ctx, inputs, output):
    y, w, kernel, stride, mode, size = inputs
    ctx.save_for_backward(y, w)
    ctx.args = (kernel, stride, mode, size)


def _adaunpool_backward(ctx, grad_u):
    y, w = ctx.saved_tensors
    kernel, stride, mode, size = ctx.args
    gy, gw = torch.ops.adaunpool.adaunpool_backward(grad_u, y, w, kernel, stride, mode, size)
    return gy, gw, None, None, None, None


def _no_double_backward(ctx, *grads):
    raise NotImplementedError(
        "adaunpool: the compiled ops have exact first-order gradients only; double backward "
        "(differentiating a gradient, create_graph=True) is not implemented. Use ADAUNPOOL_BACKEND=reference."
    )


def _no_setup(ctx, inputs, output):
    pass


def register() -> None:
    """Attach fake kernels and autograd to the ops; called once, after the library is loaded."""
    global _REGISTERED
    if _REGISTERED:
        return
    lib = torch.library
    lib.register_fake("adaunpool::adapool_forward")(_adapool_fake)
    lib.register_fake("adaunpool::adapool_backward")(_adapool_backward_fake)
    lib.register_fake("adaunpool::adaunpool_forward")(_adaunpool_fake)
    lib.register_fake("adaunpool::adaunpool_backward")(_adaunpool_backward_fake)
    lib.register_autograd("adaunpool::adapool_forward", _adapool_backward, setup_context=_adapool_setup)
    lib.register_autograd("adaunpool::adaunpool_forward", _adaunpool_backward, setup_context=_adaunpool_setup)
    # The backward ops are not differentiable again: say so instead of returning silent zeros.
    lib.register_autograd("adaunpool::adapool_backward", _no_double_backward, setup_context=_no_setup)
    lib.register_autograd("adaunpool::adaunpool_backward", _no_double_backward, setup_context=_no_setup)
    _REGISTERED = True
