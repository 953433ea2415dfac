import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


def circle_points(m: int = 400_001) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, m)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def sphere_points(d: int, m: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((m, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
