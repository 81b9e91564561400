"""The autograd engine: accumulation, broadcasting, graph freeing, higher order, errors, anomaly detection."""
import subprocess
import sys
import weakref

import numpy as np
import pytest

import minigen
import minigen.functional as F
from minigen.autograd import Function, GradcheckError, gradcheck, gradgradcheck, AnomalyError, detect_anomaly


def t(a, grad=True, dtype=np.float64):
    return minigen.tensor(np.asarray(a, dtype=dtype), requires_grad=grad)


def test_shared_input_gradients_accumulate():
    x = t([1.0, 2.0])
    y = (x * x + x * 3).sum()  # dy/dx = 2x + 3
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])


def test_accumulation_in_place_never_touches_shared_arrays():
    # add's backward hands the same upstream Tensor to both inputs, and the walk adds the
    # third gradient of x in place: into a buffer of its own, never into the caller's array
    x, g = t([1.0, 2.0]), np.array([1.0, 10.0])
    ((x + x) + x).backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 30.0])
    np.testing.assert_array_equal(g, [1.0, 10.0])
    w = t([2.0, 3.0])
    gw, = minigen.grad((w * 1 + w * 2 + w * 3 + w).sum(), w)
    np.testing.assert_array_equal(gw.numpy(), [7.0, 7.0])
    h, = minigen.grad(((w + w) + w * w).sum(), w, create_graph=True)  # 2 + 2w, with a graph
    gg, = minigen.grad(h.sum(), w)
    np.testing.assert_array_equal(h.numpy(), [6.0, 8.0])
    np.testing.assert_array_equal(gg.numpy(), [2.0, 2.0])


def test_backward_accumulates_into_grad_across_calls():
    x = t([1.0, 2.0])
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0])


def test_broadcast_gradients_are_summed_to_input_shape():
    a, b = t(np.ones((2, 3))), t(np.ones((3,)))
    (a * b).sum().backward()
    assert b.grad.shape == (3,)
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0, 2.0])


def test_second_and_third_order():
    x = t(2.0)
    y = x ** 4
    g1, = minigen.grad(y, x, create_graph=True)
    g2, = minigen.grad(g1, x, create_graph=True)
    g3, = minigen.grad(g2, x)
    assert (g1.item(), g2.item(), g3.item()) == (32.0, 48.0, 48.0)


def test_gradient_penalty_style_double_backward():
    # d/dw of ||d(w·x)/dx||² = d/dw ||w||² = 2w
    w, x = t([1.0, -2.0]), t([0.5, 0.3])
    g, = minigen.grad((w * x).sum(), x, create_graph=True)
    (g * g).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, -4.0])


def test_grad_of_intermediate_and_allow_unused():
    x = t([1.0, 2.0])
    h = x * 3
    z = t([1.0])
    y = (h * h).sum()
    gh, gz = minigen.grad(y, [h, z], allow_unused=True)
    np.testing.assert_array_equal(gh.numpy(), [6.0, 12.0])
    assert gz is None
    with pytest.raises(RuntimeError, match="input 0 .* was not used"):
        minigen.grad((x * 2).sum(), [z])


def test_backward_twice_without_retain_graph_raises():
    x = t([1.0, 2.0])
    y = F.exp(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"backward through the graph a second time: the saved values of .* "
                                           r"pass retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = t([1.0, 2.0])
    y = F.exp(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]))


def test_non_scalar_backward_needs_grad():
    x = t(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"backward of a non-scalar tensor of shape \(2, 3\) needs an upstream"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"upstream gradient has shape \(3,\) but the tensor has shape \(2, 3\)"):
        (x * 2).backward(np.ones(3))


def test_backward_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        minigen.tensor([1.0]).backward()


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients, got dtype int64"):
        minigen.tensor([1, 2], requires_grad=True)


def test_no_grad_builds_no_graph_and_enable_grad_restores():
    x = t([1.0])
    with minigen.no_grad():
        y = x * 2
        with minigen.enable_grad():
            z = x * 2
    assert y.creator is None and not y.requires_grad
    assert z.creator is not None


def test_chain_of_10000_ops_has_no_recursion_limit():
    x = t(1.0)
    y = x
    for _ in range(10000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001 ** 10000, rtol=1e-9)


def test_graph_is_freed_after_backward():
    x = t(np.ones(1000))
    y = F.exp(x)
    f = weakref.ref(y.creator)
    z = y.sum()
    z.backward()
    assert y.creator is not None and y.creator.inputs is None  # the op's saved values were released
    del y, z
    assert f() is None or f().inputs is None


def test_detect_anomaly_names_the_forward_op():
    x = t([-1.0, 1.0])
    with detect_anomaly(), np.errstate(all="ignore"):
        with pytest.raises(AnomalyError, match=r"forward of Sqrt produced NaN or inf \(op created at .*test_autograd"):
            F.sqrt(x * 1.0 - 2.0)


def test_detect_anomaly_names_the_backward_op():
    x = t([0.0, 1.0])
    with detect_anomaly(), np.errstate(all="ignore"):
        y = F.sqrt(x).sum()  # finite forward, infinite gradient at 0
        with pytest.raises(AnomalyError, match="backward of Sqrt produced NaN or inf"):
            y.backward()


def test_float32_stays_float32_with_numpy_float64_scalars():
    x = t(np.ones(3), dtype=np.float32)
    y = x * np.float64(2) + 1.5
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_float_dtypes_are_an_error():
    with pytest.raises(TypeError, match="mul: operands have different dtypes float32 and float64"):
        t([1.0], dtype=np.float32) * t([1.0])


def test_astype_gradient_is_cast_back():
    x = t([1.0, 2.0], dtype=np.float32)
    y = x.astype("float64") * 3
    y.sum().backward()
    assert x.grad.dtype == np.float32 and np.allclose(x.grad.numpy(), 3)


@pytest.mark.parametrize("op,x", [
    (F.binary_cross_entropy_with_logits, np.array([1e4, -1e4, 0.0], np.float32)),
    (F.log_sigmoid, np.array([1e4, -1e4], np.float32)),
    (F.sigmoid, np.array([1e4, -1e4], np.float32)),
    (F.softplus, np.array([1e4, -1e4], np.float32)),
])
def test_stable_for_huge_logits(op, x):
    xt = minigen.tensor(x, requires_grad=True)
    if op is F.binary_cross_entropy_with_logits:
        y = op(xt, minigen.tensor(np.array([0.0, 1.0, 1.0], np.float32)), reduction="sum")
    else:
        y = op(xt).sum()
    y.backward()
    assert np.isfinite(y.numpy()).all() and np.isfinite(xt.grad.numpy()).all()


def test_relu_and_softplus_of_infinities():
    x = minigen.tensor(np.array([-np.inf, -1.0, 0.0, 2.0, np.inf], np.float32), requires_grad=True)
    y = F.relu(x)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 0.0, 2.0, np.inf])  # not -inf * 0 = nan
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(F.softplus(minigen.tensor(np.array([-np.inf, np.inf], np.float32))).numpy(),
                                  [0.0, np.inf])


def test_logsumexp_softmax_of_large_spread():
    x = t([[-1000.0, 1.0]])
    assert np.isfinite(F.logsumexp(x, 1).numpy()).all()
    np.testing.assert_allclose(F.softmax(x, 1).numpy(), [[0.0, 1.0]])
    np.testing.assert_allclose(F.log_softmax(x, 1).numpy(), [[-1001.0, 0.0]])
    assert np.isfinite(F.logsumexp(t([[1e4, 1e4]], dtype=np.float32), 1).numpy()).all()


def test_bce_of_underflowed_probability_is_finite():
    p = t([0.0, 1.0, 0.5])
    y = F.binary_cross_entropy(p, minigen.tensor([1.0, 0.0, 1.0], dtype="float64"), reduction="sum")
    y.backward()
    assert np.isfinite(y.item()) and np.isfinite(p.grad.numpy()).all()
    np.testing.assert_allclose(y.item(), 200 + np.log(2))


def test_var_of_constant_channel_is_zero_with_finite_grad():
    x = t(np.full((4,), 3.0))
    v = F.var(x)
    v.backward()
    assert v.item() == 0 and np.isfinite(x.grad.numpy()).all()


def test_gradcheck_reports_input_element_and_values():
    class BadSquare(Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            return gy * self.inputs[0]  # wrong: should be 2x

    x = t(np.array([[1.0, 2.0]]))
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(1, 2\)\), element \(0, 0\): analytic .* vs numeric"):
        gradcheck(lambda x: BadSquare()(x), [x])
    assert gradcheck(lambda x: BadSquare()(x), [x], raise_exception=False) is False


def test_gradgradcheck_catches_a_constant_backward():
    class NotDoubleDifferentiable(Function):
        def forward(self, x):
            return x ** 3

        def backward(self, gy):
            return gy * minigen.Tensor(3 * self.inputs[0].data ** 2)  # first order right, cut from the graph

    x = t([0.5, -1.0])
    assert gradcheck(lambda x: NotDoubleDifferentiable()(x), [x])
    with pytest.raises(GradcheckError):
        gradgradcheck(lambda x: NotDoubleDifferentiable()(x), [x])


def test_gradcheck_uses_random_directions_for_large_inputs():
    x = t(np.random.default_rng(0).normal(size=(40, 30)))
    assert gradcheck(lambda x: F.tanh(x) * x, [x], max_elements=100)


def test_gradcheck_needs_float64():
    with pytest.raises(TypeError, match="finite differences need float64"):
        gradcheck(F.exp, [t([1.0], dtype=np.float32)])


def test_indexing_with_gradient_and_repeated_indices():
    x = t([1.0, 2.0, 3.0])
    x[np.array([0, 0, 2])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 1.0])


def test_tensor_api_basics():
    x = minigen.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.shape == (2, 2) and x.dtype == np.float32 and x.device == "cpu"
    assert x.T.numpy().tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert (x @ x).numpy().tolist() == [[7.0, 10.0], [15.0, 22.0]]
    assert x.sum().item() == 10.0 and float(x.max()) == 4.0
    assert np.asarray(x).shape == (2, 2)
    assert (x > 2).numpy().tolist() == [[False, False], [True, True]]
    assert x.detach().creator is None
    assert "tensor(" in repr(x)
    with pytest.raises(ValueError, match="only a tensor with one element"):
        x.item()


def test_cuda_without_cupy_says_what_to_install():
    from minigen import backend
    if backend.cuda_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match=r"pip install 'minigen-dl\[gpu\]'"):
        minigen.tensor([1.0]).to("cuda")


def test_import_is_light():
    code = ("import sys, time; t=time.perf_counter(); import minigen; "
            "bad=[m for m in ('torch','numba','cupy','scipy','matplotlib') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"import minigen pulled in heavy modules: {out}"


def test_random_generator_reproducible_and_state_roundtrip():
    g = minigen.random.Generator(5)
    a = g.normal((3,))
    state = g.get_state()
    b = g.uniform((4,))
    g.set_state(state)
    assert np.array_equal(g.uniform((4,)), b)
    assert np.array_equal(minigen.random.Generator(5).normal((3,)), a)
    assert a.dtype == np.float32


def test_each_leaf_owns_a_writeable_grad():
    """``add`` hands one gradient to both inputs and ``sum`` a read-only broadcast view; ``.grad`` must still be
    each leaf's own writeable array, or an in-place change (gradient clipping) hits another leaf's gradient too."""
    from minigen import nn, optim
    a, b = nn.Parameter(np.ones((3, 4), np.float32)), nn.Parameter(np.ones((3, 4), np.float32))
    w = minigen.tensor(np.full((3, 4), 2.0, np.float32))
    ((a + b) * w).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)
    optim.clip_grad_norm_([a, b], 1.0)           # scales each gradient in place by 1 / ‖(∇a, ∇b)‖
    expected = np.full((3, 4), 2.0 / np.sqrt(24 * 4.0), np.float32)
    np.testing.assert_allclose(a.grad.data, expected, rtol=1e-6)
    np.testing.assert_allclose(b.grad.data, expected, rtol=1e-6)
    q = nn.Parameter(np.ones((3, 4), np.float32))
    q.sum().backward()
    assert q.grad.data.flags.writeable
    q.grad.data *= 2                              # no "output array is read-only"
    np.testing.assert_array_equal(q.grad.data, np.full((3, 4), 2.0, np.float32))


def test_a_grad_never_aliases_the_callers_grad_tensor():
    """backward(g) through view ops (reshape, a leaf itself) must not make ``.grad`` share g's memory: the caller
    may reuse g, and an in-place change to ``.grad`` would write into it (PyTorch copies here too)."""
    from minigen import nn
    p = nn.Parameter(np.ones((2, 3), np.float32))
    g = np.full((3, 2), 5.0, np.float32)
    minigen.functional.reshape(p, (3, 2)).backward(g)
    assert not np.shares_memory(p.grad.data, g)
    p.grad.data *= 0
    np.testing.assert_array_equal(g, np.full((3, 2), 5.0, np.float32))
    leaf = nn.Parameter(np.ones(4, np.float32))
    gt = minigen.tensor(np.arange(4, dtype=np.float32))
    leaf.backward(gt)
    assert not np.shares_memory(leaf.grad.data, gt.data)
    np.testing.assert_array_equal(leaf.grad.data, np.arange(4, dtype=np.float32))
