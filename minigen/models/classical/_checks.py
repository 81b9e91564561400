"""Input checks and small numerical helpers shared by the classical latent models.

Every model here validates its input the same way, so that a wrong shape or a
negative count gets the same kind of message everywhere: the model's name, what
was received, and how to fix it.
"""
import numbers

import numpy as np

from ... import backend
from ... import random as mg_random
from ...autograd import Tensor


def as_float_matrix(X, name, what="X"):
    """Return ``X`` as a 2-D float array (float32/float64 kept, ints -> float64).

    Args:
        X: array-like of shape (n_samples, n_features), NumPy or CuPy, or a
            ``Tensor`` (its data is used: these models are not differentiated).
        name: the calling model, used in error messages (e.g. ``"PCA.fit"``).
        what: the argument's name in the messages.

    Returns:
        The array on its own backend: float dtypes are kept, integer and bool
        input becomes float64.
    """
    if isinstance(X, Tensor):
        X = X.data
    xp = backend.get_array_module(X)
    X = xp.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name}: expected {what} of shape (n_samples, n_features) (2-D), got shape "
                         f"{tuple(X.shape)} ({X.ndim}-D); reshape a single example with x[None, :]")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected a numeric {what}, got dtype {X.dtype}")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name}: {what} is empty (shape {tuple(X.shape)})")
    if not bool(xp.isfinite(X).all()):
        raise ValueError(f"{name}: {what} contains NaN or inf")
    return X


def as_count_matrix(N, name, what="counts", allow_empty=False):
    """Return a non-negative matrix (e.g. documents x vocabulary word counts) as a float array.

    Args:
        N: array-like of shape (n_docs, vocab_size) of non-negative counts
            (integers, or non-negative weights such as tf-idf for NMF).
        name: the calling model, for error messages.
        what: the argument's name in the messages.
        allow_empty: accept all-zero rows (NMF can fit them; the probabilistic
            topic models cannot normalise an empty document).
    """
    N = as_float_matrix(N, name, what=what)
    if bool((N < 0).any()):
        bad = int((N < 0).sum())
        raise ValueError(f"{name}: {what} must be non-negative (e.g. a documents x vocabulary matrix of word "
                         f"counts), got {bad} negative entries (minimum {float(N.min())})")
    if not allow_empty and bool((N.sum(axis=1) == 0).any()):
        empty = int((N.sum(axis=1) == 0).sum())
        raise ValueError(f"{name}: {empty} document(s) have no words (all-zero rows of {what}); "
                         f"drop them before fitting")
    return N


def check_positive_int(value, name, what):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}: {what} must be a positive integer, got {value!r}")
    return int(value)


def check_positive_float(value, name, what, allow_zero=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: {what} must be a finite number {bound}, got {value!r}")
    return float(value)


def check_n_components(k, n_samples, n_features, name, what="n_components"):
    """``k`` must be a positive int no larger than the number of features (and samples)."""
    k = check_positive_int(k, name, what)
    if k > n_features:
        raise ValueError(f"{name}: {what}={k} exceeds n_features={n_features}; "
                         f"choose {what} <= {n_features}")
    if k > n_samples:
        raise ValueError(f"{name}: {what}={k} exceeds n_samples={n_samples}; "
                         f"fit on at least {k} examples")
    return k


def check_fitted(model, attribute, name):
    if getattr(model, attribute, None) is None:
        raise RuntimeError(f"{name}: the model is not fitted yet; call fit() first")


def check_n_features(X, expected, name, what="X"):
    if X.shape[1] != expected:
        raise ValueError(f"{name}: {what} has {X.shape[1]} features but the model was fitted on {expected}")


def numpy_rng(seed):
    """A ``numpy.random.Generator`` from an int seed, a ``minigen.random.Generator`` or None.

    The classical models draw their (small) random initialisations on the CPU and
    move them to the data's device, so that the NumPy and CuPy paths start from
    the same point. A ``minigen.random.Generator`` passed in is advanced by one
    draw (its :meth:`spawn_seed`), so repeated calls give fresh streams.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, mg_random.Generator):
        return np.random.default_rng(seed.spawn_seed())
    if seed is None:
        return np.random.default_rng(mg_random.default_generator().spawn_seed())
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"expected an int seed, a minigen.random.Generator or None, got {type(seed).__name__}")


def logsumexp(a, axis):
    """``log Σ exp(a)`` along ``axis`` without overflow: subtract the max first.

    ``log Σ_k exp(a_k) = m + log Σ_k exp(a_k - m)`` with ``m = max_k a_k``, so the
    largest term is exp(0) = 1 and nothing overflows.
    """
    xp = backend.get_array_module(a)
    m = a.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    out = xp.log(xp.exp(a - m).sum(axis=axis, keepdims=True)) + m
    return out.squeeze(axis)


class StateMixin:
    """``state_dict()`` / ``load_state_dict(d)`` for the fitted attributes listed in ``_state_keys``.

    The state is a flat dict of arrays, numbers, strings and lists, which is what
    ``minigen.save`` writes; attributes not fitted yet are stored as None.
    """

    _state_keys = ()

    def state_dict(self):
        return {key: getattr(self, key, None) for key in self._state_keys}

    def load_state_dict(self, state):
        name = f"{type(self).__name__}.load_state_dict"
        missing = [k for k in self._state_keys if k not in state]
        unexpected = [k for k in state if k not in self._state_keys]
        if missing or unexpected:
            raise KeyError(f"{name}: missing keys {missing}, unexpected keys {unexpected}")
        for key in self._state_keys:
            setattr(self, key, state[key])
        return self
