"""Shared test set-up: Hypothesis profiles, markers that skip themselves, BLAS pinning."""
import os

import numpy as np
import pytest
from hypothesis import settings, HealthCheck

settings.register_profile("ci", derandomize=True, deadline=None, database=None, max_examples=15,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", deadline=None, max_examples=15,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("slow", derandomize=True, deadline=None, database=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("MINIGEN_HYPOTHESIS", "ci" if os.environ.get("CI") else "dev"))


def _has_cuda():
    from minigen import backend
    return backend.cuda_available()


def pytest_collection_modifyitems(config, items):
    cuda = None
    for item in items:
        if "gpu" in item.keywords:
            if cuda is None:
                cuda = _has_cuda()
            if not cuda:
                item.add_marker(pytest.mark.skip(reason="needs CuPy and an NVIDIA GPU"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
