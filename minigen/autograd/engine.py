"""Reverse-mode differentiation: walk the graph once, in topological order.

``backward(roots)`` and ``grad(outputs, inputs)`` share one walk:

1. Collect every op reachable from the roots and sort them so that an op
   comes after every op that consumes its outputs (an iterative depth-first
   search: no recursion limit, so a 10,000-op chain is fine).
2. Seed the roots with their upstream gradients, then visit the ops in that
   order. Each op's ``backward`` turns its output gradients into input
   gradients; a gradient whose shape was broadcast is summed back to the
   input's shape; gradients of an input used twice are added.
3. Unless ``retain_graph`` is set, each op releases its inputs and saved
   arrays once visited, so memory is returned as the walk proceeds and a
   second backward through the same graph fails with a clear message.

With ``create_graph=True`` step 2 runs with graph recording on: the
gradients are Tensors with a graph of their own, ready to be differentiated
again.
"""
import numpy as np

from .function import mode, AnomalyError, _all_finite
from .tensor import Tensor


def _seed_grad(root, grad):
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward of a non-scalar tensor of shape {root.shape} needs an upstream gradient: "
                               f"call .backward(grad) with a tensor of that shape, or reduce it first (e.g. .sum())")
        return Tensor(root.xp.ones(root.data.shape, root.data.dtype))
    grad = grad if isinstance(grad, Tensor) else Tensor(root.xp.asarray(grad, dtype=root.dtype))
    if grad.shape != root.shape:
        raise ValueError(f"backward: the upstream gradient has shape {grad.shape} but the tensor has shape {root.shape}")
    return grad


def _toposort(roots):
    """Ops reachable from ``roots``, each after all the ops that consume its outputs."""
    order, visited = [], set()
    stack = [(r.creator, False) for r in roots if r.creator is not None]
    push, pop = stack.append, stack.pop
    while stack:
        f, done = pop()
        if done:
            order.append(f)
            continue
        if f in visited:  # Functions hash by identity
            continue
        visited.add(f)
        push((f, True))
        if f.inputs is None:
            raise RuntimeError(
                f"backward through the graph a second time: the saved values of {f.name} were freed by an earlier "
                f"backward(); pass retain_graph=True to the first backward() (or grad()) if you need to go through "
                f"the graph again")
        for x in f.inputs:
            c = x.creator
            if c is not None and c not in visited:
                push((c, False))
    order.reverse()
    return order


def _prune(order, target_ids):
    """Keep only the ops through which some target can be reached."""
    useful = set()
    for f in reversed(order):  # inputs-first
        for x in f.inputs:
            if id(x) in target_ids or (x.creator is not None and id(x.creator) in useful):
                useful.add(id(f))
                break
    return [f for f in order if id(f) in useful]


def _fit_shape(f, x, g):
    try:
        return sum_to(g, x.shape)
    except ValueError:
        raise RuntimeError(f"backward of {f.name} returned a gradient of shape {g.shape} for an input of shape "
                           f"{x.shape}") from None


def _call_backward(f, gys):
    """``f.backward(*gys)`` under detect_anomaly: a NaN made inside it is blamed on this backward."""
    try:
        return f.backward(*gys)
    except AnomalyError as exc:  # an op inside this backward made the NaN: blame the backward
        raise AnomalyError(f"backward of {f.name} produced NaN or inf (op created at {f.created_at}); "
                           f"inside it: {exc}") from None


def _walk(roots, root_grads, target_ids, retain_graph, create_graph):
    """Run the backward walk; return {id(tensor): (tensor, grad, owned)} for leaves and targets.

    Gradients reaching one tensor from several ops are added. Without
    ``create_graph`` the sum is taken on the arrays, in place from the second
    addition on (into a buffer the walk itself allocated, never into an array
    that an op returned, which may be shared); with it, by the Tensor op ``+``.
    """
    # id -> (tensor, grad, owned): holding the tensor keeps its id unique during the walk; ``owned``
    # says that the walk allocated the grad's array itself, so it may add into it in place
    grads = {}
    for r, g in zip(roots, root_grads):
        g = _seed_grad(r, g)
        prev = grads.get(id(r))
        grads[id(r)] = (r, g if prev is None else prev[1] + g, False)
    order = _toposort(roots)
    if target_ids is not None:
        order = _prune(order, target_ids)
    else:
        target_ids = ()
    prev_mode, anomaly = mode.grad_enabled, mode.anomaly
    mode.grad_enabled = create_graph
    try:
        for f in order:
            outs = f._outputs
            if len(outs) == 1:  # the common case: one output
                y = outs[0]()
                key = id(y)
                entry = grads.get(key) if key in target_ids else grads.pop(key, None)
                if entry is None:
                    continue
                gys = (entry[1],)
            else:
                gys = []
                for ref in outs:
                    y = ref()
                    entry = None
                    if y is not None:
                        key = id(y)
                        entry = grads.get(key) if key in target_ids else grads.pop(key, None)
                    gys.append(None if entry is None else entry[1])
                if all(g is None for g in gys):
                    continue
            gxs = f.backward(*gys) if not anomaly else _call_backward(f, gys)
            inputs = f.inputs
            if type(gxs) is not tuple:
                gxs = (gxs,)
            if len(gxs) != len(inputs):
                raise RuntimeError(f"backward of {f.name} returned {len(gxs)} gradients for {len(inputs)} inputs")
            for x, g in zip(inputs, gxs):
                if g is None or not x.requires_grad:
                    continue
                if not isinstance(g, Tensor):
                    raise TypeError(f"backward of {f.name} must return Tensors, got {type(g).__name__}")
                if g.data.shape != x.data.shape:
                    g = _fit_shape(f, x, g)
                if anomaly and not _all_finite(g.data):
                    raise AnomalyError(f"backward of {f.name} produced NaN or inf in the gradient of its input of "
                                       f"shape {x.shape} (op created at {f.created_at})")
                key = id(x)
                prev = grads.get(key)
                if prev is None:
                    grads[key] = (x, g, False)
                elif create_graph:
                    grads[key] = (x, prev[1] + g, False)
                elif prev[2] and prev[1].data.dtype == g.data.dtype:
                    prev[1].data += g.data
                else:
                    grads[key] = (x, Tensor(prev[1].data + g.data), True)
            if not retain_graph:
                vars(f).clear()  # drop inputs and any saved arrays; f.inputs reads None from now on
    finally:
        mode.grad_enabled = prev_mode
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate the gradients of ``tensors`` into the ``.grad`` of every leaf that requires one."""
    tensors = list(tensors)
    grad_tensors = list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    for t in tensors:
        if not t.requires_grad:
            raise RuntimeError(f"backward: the tensor of shape {t.shape} does not require grad and has no graph "
                               f"(was it made under no_grad(), or from tensors without requires_grad=True?)")
    if retain_graph is None:
        retain_graph = create_graph
    grads = _walk(tensors, grad_tensors, None, retain_graph, create_graph)
    # The caller's grad_tensors stay the caller's: a .grad reached from one through views gets a copy.
    owned = {id(_base(g.data if isinstance(g, Tensor) else g)) for g in grad_tensors if g is not None}
    for x, g, _ in grads.values():
        if x.creator is None and x.requires_grad:
            if not create_graph:
                g = Tensor(_own(g.data, owned))
            x.grad = g if x.grad is None else x.grad + g


def _own(a, owned):
    """``a`` as an array that one leaf's ``.grad`` may own, copied only where it must be.

    Backward passes hand gradients on without copying: ``add`` gives its
    upstream gradient to both inputs, ``sum`` a read-only broadcast view. A
    ``.grad`` is the user's to change in place (``clip_grad_norm_`` scales
    it), so it must be writeable and share memory with no other leaf's
    ``.grad`` (``owned`` holds the ids of the memory already given out, and
    of the caller's own ``grad_tensors``).
    """
    base = _base(a)
    if id(base) in owned or not getattr(a.flags, "writeable", True):
        a = a.copy()
        base = a
    owned.add(id(base))
    return a


def _base(a):
    """The array that owns the memory of ``a`` (``a`` itself unless it is a view)."""
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated).

    Args:
        outputs: a Tensor or a sequence of Tensors.
        inputs: a Tensor or a sequence of Tensors (leaves or intermediate results).
        grad_outputs: upstream gradients, one per output (``None`` for one-element outputs).
        retain_graph: keep the graph afterwards (default: ``create_graph``).
        create_graph: record the gradient computation, so the result can be differentiated again.
        allow_unused: return ``None`` for an input the outputs do not depend on instead of raising.

    Returns:
        A tuple of Tensors, one per input.

    Example:
        >>> import minigen
        >>> x = minigen.tensor(3.0, requires_grad=True)
        >>> g, = grad(x ** 3, x, create_graph=True)     # 3x² = 27
        >>> gg, = grad(g, x)                             # 6x = 18
        >>> float(g.item()), float(gg.item())
        (27.0, 18.0)
    """
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor) or not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {x.shape}) does not require grad")
    kept = [o for o in outputs if o.requires_grad]
    kept_g = [g for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if retain_graph is None:
        retain_graph = create_graph
    target_ids = {id(x) for x in inputs}
    grads = _walk(kept, kept_g, target_ids, retain_graph, create_graph) if kept else {}
    result = []
    for i, x in enumerate(inputs):
        entry = grads.get(id(x))
        if entry is None:
            if not allow_unused:
                raise RuntimeError(f"grad: input {i} (shape {x.shape}) was not used to compute the outputs; "
                                   f"pass allow_unused=True to get None for it")
            result.append(None)
        else:
            g = entry[1]
            result.append(g if create_graph else Tensor(g.data))
    return tuple(result)


from ..functional.shape import sum_to  # noqa: E402
