"""A Sweep built by hand (the notebook API) refuses, naming the field, what the engine would trip over
later with a misleading message ('mode 'r' needs PCA directions' for modes='resample')."""
import pytest

from pytest_circuit_ablation.core import Sweep
from pytest_circuit_ablation.errors import SettingError


@pytest.mark.parametrize("fields, message", [
    (dict(modes="resample"), "modes 'resample': a tuple of values, not one string"),
    (dict(modes=("resampel",)), "modes 'resampel': unknown mode"),
    (dict(scales=("x",)), "scales 'x': a scale must be a finite number"),
    (dict(scales=(float("nan"),)), "scales nan: a scale must be a finite number"),
    (dict(extra=(("zero", "1"),)), "scales '1': a scale must be a finite number"),
    (dict(inputs=1), "inputs 1: must be an integer >= 2"),
    (dict(inputs=10.0), "inputs 10.0: must be an integer >= 2"),
    (dict(pca_components=0), "pca_components 0: must be an integer >= 1"),
    (dict(device="gpu"), "device 'gpu': must be 'cpu' or 'cuda[:N]'"),
])
def test_a_bad_field_is_refused_when_the_sweep_is_built(fields, message):
    with pytest.raises(SettingError) as info:
        Sweep(**fields)
    assert str(info.value).startswith(message)


def test_the_defaults_and_the_suites_own_sweeps_are_accepted():
    Sweep()
    Sweep(modes=("resample", "zero"), scales=(0, 1.0, 10), extra=(("resample", 1.0),), inputs=100, device="cuda:0")
