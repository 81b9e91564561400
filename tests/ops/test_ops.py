"""The shared runner: every declared op gets the same checks (see registry.py)."""
import inspect

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigen
import minigen.functional as F
from minigen.autograd import gradcheck, gradgradcheck
from tests.ops.registry import all_cases, load_all

torch = None
try:
    import torch  # the independent oracle (CPU); tests skip without it
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

CASES = all_cases()
IDS = [c[2] for c in CASES]
DECLS = list(load_all().values())


def needs_torch():
    if torch is None:
        pytest.skip("PyTorch is not installed (it is the test oracle: pip install torch==2.13.0)")


def tensors(case, dtype=np.float64, transform=None):
    diff = case.diff_indices()
    out = []
    for i, a in enumerate(case.args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            arr = a.astype(dtype)
            if transform is not None:
                arr = transform(arr)
            out.append(minigen.Tensor(arr, requires_grad=i in diff))
        else:
            out.append(minigen.Tensor(a) if isinstance(a, np.ndarray) else a)
    return out


def outputs(fn, args):
    out = fn(*args)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if o.dtype.kind == "f"]


def np_outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [np.asarray(o) for o in outs]


def grads_of(case, args, us, **kw):
    outs = outputs(case.fn, args)
    diff = [args[i] for i in case.diff_indices()]
    live = [(o, u) for o, u in zip(outs, us) if o.requires_grad]
    if not live:
        return [np.zeros(d.shape) for d in diff]
    gs = minigen.grad([o for o, _ in live], diff, [minigen.Tensor(u.astype(o.dtype)) for o, u in live],
                      allow_unused=True, **kw)
    return [np.zeros(d.shape, d.dtype) if g is None else g for g in gs]


def upstream(case, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(o.shape).astype(dtype) for o in outputs(case.fn, tensors(case))]


def torch_args(case):
    diff = case.diff_indices()
    out = []
    for i, a in enumerate(case.args):
        if isinstance(a, np.ndarray):
            out.append(torch.tensor(a, requires_grad=i in diff))
        else:
            out.append(a)
    return out


def torch_outputs(case, targs):
    out = case.torch_fn(*targs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if o.is_floating_point()]


def second_order(decl, case):
    return decl.second_order if case.second_order is None else case.second_order


# -- per case ---------------------------------------------------------------------

@pytest.mark.parametrize("decl,case", [c[:2] for c in CASES], ids=IDS)
def test_forward_matches_reference(decl, case):
    if case.ref is None and case.torch_fn is None:
        pytest.skip("no independent forward declared")
    got = [o.numpy() for o in outputs(case.fn, tensors(case))]
    if case.ref is not None:
        want = np_outputs(case.ref(*[np.array(a) if isinstance(a, np.ndarray) else a for a in case.args]))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    if case.torch_fn is not None and torch is not None:
        with torch.no_grad():
            want = [o.numpy() for o in torch_outputs(case, torch_args(case))]
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=decl.torch_rtol, atol=decl.torch_atol)


@pytest.mark.parametrize("decl,case", [c[:2] for c in CASES], ids=IDS)
def test_gradcheck(decl, case):
    if not case.diff_indices():
        pytest.skip("no differentiable input")
    assert gradcheck(case.fn, tensors(case))


@pytest.mark.parametrize("decl,case", [c[:2] for c in CASES], ids=IDS)
def test_gradgradcheck(decl, case):
    if not case.diff_indices():
        pytest.skip("no differentiable input")
    if not second_order(decl, case):
        pytest.skip("declared first-order only")
    atol = case.gg_atol or decl.gg_atol
    assert gradgradcheck(case.fn, tensors(case), atol=atol)


@pytest.mark.parametrize("decl,case", [c[:2] for c in CASES], ids=IDS)
def test_grads_match_torch(decl, case):
    if case.torch_fn is None or not case.diff_indices():
        pytest.skip("no PyTorch counterpart declared")
    needs_torch()
    us = upstream(case)
    args = tensors(case)
    gs = grads_of(case, args, us, create_graph=True)
    targs = torch_args(case)
    tdiff = [targs[i] for i in case.diff_indices()]
    touts = torch_outputs(case, targs)
    tgs = torch.autograd.grad(touts, tdiff, [torch.tensor(u) for u in us], create_graph=True, allow_unused=True)
    tgs = [torch.zeros_like(d) if g is None else g for g, d in zip(tgs, tdiff)]
    for g, tg in zip(gs, tgs):
        gv = g.numpy() if isinstance(g, minigen.Tensor) else g
        np.testing.assert_allclose(gv, tg.detach().numpy(), rtol=decl.torch_rtol, atol=decl.torch_atol)
    if not second_order(decl, case):
        return
    rng = np.random.default_rng(7)
    vs = [rng.standard_normal(d.shape) for d in tdiff]
    s = sum((g * minigen.Tensor(v)).sum() for g, v in zip(gs, vs) if isinstance(g, minigen.Tensor) and g.requires_grad)
    diff = [args[i] for i in case.diff_indices()]
    if isinstance(s, minigen.Tensor) and s.requires_grad:
        ggs = minigen.grad(s, diff, allow_unused=True)
        ggs = [np.zeros(d.shape) if g is None else g.numpy() for g, d in zip(ggs, diff)]
    else:
        ggs = [np.zeros(d.shape) for d in diff]
    ts = sum((tg * torch.tensor(v)).sum() for tg, v in zip(tgs, vs))
    if ts.requires_grad:
        tggs = torch.autograd.grad(ts, tdiff, allow_unused=True)
        tggs = [np.zeros(d.shape) if g is None else g.detach().numpy(force=True) for g, d in zip(tggs, tdiff)]
    else:
        tggs = [np.zeros(d.shape) for d in tdiff]
    for g, tg in zip(ggs, tggs):
        np.testing.assert_allclose(g, tg, rtol=max(decl.torch_rtol, 1e-6), atol=max(decl.torch_atol, 1e-6))


@pytest.mark.parametrize("decl,case", [c[:2] for c in CASES], ids=IDS)
def test_float32_stays_float32(decl, case):
    if not case.float32:
        pytest.skip("float32 check disabled for this case")
    args = tensors(case, np.float32)
    outs = outputs(case.fn, args)
    for o in outs:
        assert o.dtype == np.float32, f"{decl.name}: float32 inputs gave a {o.dtype} output"
    if not case.diff_indices():
        return
    gs = grads_of(case, args, upstream(case, dtype=np.float32))
    for g in gs:
        if isinstance(g, minigen.Tensor):
            assert g.dtype == np.float32, f"{decl.name}: float32 inputs gave a {g.dtype} gradient"


@pytest.mark.parametrize("decl,case", [c[:2] for c in CASES], ids=IDS)
def test_zero_upstream_gives_zero_grads(decl, case):
    if not case.diff_indices():
        pytest.skip("no differentiable input")
    us = [np.zeros_like(u) for u in upstream(case)]
    for g in grads_of(case, tensors(case), us):
        gv = g.numpy() if isinstance(g, minigen.Tensor) else g
        assert not np.any(gv), f"{decl.name}: a zero upstream gradient gave non-zero gradients"


@pytest.mark.parametrize("decl,case", [c[:2] for c in CASES], ids=IDS)
def test_backward_is_deterministic_and_inputs_unmodified(decl, case):
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in case.args]
    us = upstream(case)
    args1 = tensors(case)
    copies = [a.data.copy() if isinstance(a, minigen.Tensor) else None for a in args1]
    g1 = grads_of(case, args1, us)
    g2 = grads_of(case, tensors(case), us)
    for a, c in zip(args1, copies):
        if c is not None:
            assert np.array_equal(a.data, c, equal_nan=True), f"{decl.name} modified its input"
    for a, b in zip(case.args, before):
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b, equal_nan=True)
    for x, y in zip(g1, g2):
        xv = x.numpy() if isinstance(x, minigen.Tensor) else x
        yv = y.numpy() if isinstance(y, minigen.Tensor) else y
        assert np.array_equal(xv, yv), f"{decl.name}: two backward passes differ"


def _strided(a):
    if a.ndim == 0:
        return a
    big = np.zeros(a.shape + (2,), dtype=a.dtype)
    big[..., 0] = a
    view = big[..., 0]
    assert not view.flags.c_contiguous or a.size <= 1
    return view


@pytest.mark.parametrize("decl,case", [c[:2] for c in CASES], ids=IDS)
def test_noncontiguous_inputs(decl, case):
    if not case.contiguity:
        pytest.skip("non-contiguous check disabled for this case")
    us = upstream(case)
    a, b = tensors(case), tensors(case, transform=_strided)
    for x, y in zip(outputs(case.fn, a), outputs(case.fn, b)):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-12, atol=1e-12)
    if case.diff_indices():
        for x, y in zip(grads_of(case, a, us), grads_of(case, b, us)):
            xv = x.numpy() if isinstance(x, minigen.Tensor) else x
            yv = y.numpy() if isinstance(y, minigen.Tensor) else y
            np.testing.assert_allclose(xv, yv, rtol=1e-12, atol=1e-12)


# -- per declaration -------------------------------------------------------------------

@pytest.mark.parametrize("decl", [d for d in DECLS if d.strategy is not None], ids=lambda d: d.name)
@given(data=st.data())
def test_hypothesis_cases(decl, data):
    case = data.draw(decl.strategy)
    if case.diff_indices():
        assert gradcheck(case.fn, tensors(case))
        if second_order(decl, case):
            assert gradgradcheck(case.fn, tensors(case), atol=case.gg_atol or decl.gg_atol)
    if case.torch_fn is not None and torch is not None:
        got = [o.numpy() for o in outputs(case.fn, tensors(case))]
        with torch.no_grad():
            want = [o.numpy() for o in torch_outputs(case, torch_args(case))]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=decl.torch_rtol, atol=decl.torch_atol)


@pytest.mark.parametrize("decl", [d for d in DECLS if d.errors], ids=lambda d: d.name)
def test_bad_input_errors(decl):
    for call, exc, match in decl.errors:
        with pytest.raises(exc, match=match):
            call()


def public_ops():
    return sorted(name for name, obj in vars(F).items()
                  if not name.startswith("_") and inspect.isfunction(obj))


def test_every_public_op_is_declared():
    missing = [n for n in public_ops() if n not in load_all()]
    assert not missing, f"public ops without a test declaration in tests/ops/decl_*.py: {missing}"


def test_every_declared_op_has_cases():
    empty = [d.name for d in DECLS if not d.cases and d.strategy is None]
    assert not empty, f"declarations without any case: {empty}"
