"""PoolSpec across processes, and masked arrays (issue 9, items 11 and 12)."""

from __future__ import annotations

import os
import pickle
import subprocess

import numpy as np
import pytest

import impls
from impls import PoolSpec
from tests.children import python_code

SPECS = [
    "PoolSpec((3, 3), stride=2, padding='same')",
    "PoolSpec((2,), padding='same_lower', ceil_mode=True)",
    "PoolSpec((3, 3), stride=2, padding=1)",
]


def run_python(code: str, seed: int, stdin: bytes = b"") -> bytes:
    """Run ``code`` in a fresh interpreter with string hashing seeded by ``seed``."""
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    done = subprocess.run(python_code(code), input=stdin, capture_output=True, env=env, check=True)
    return done.stdout


@pytest.mark.parametrize("spec", SPECS)
def test_an_unpickled_spec_hashes_like_a_fresh_one_in_another_process(spec):
    dumped = run_python(
        f"import pickle, sys; from impls import PoolSpec\n"
        f"sys.stdout.buffer.write(pickle.dumps({spec}))",
        seed=1,
    )
    verdict = run_python(
        f"import pickle, sys; from impls import PoolSpec\n"
        f"loaded, fresh = pickle.loads(sys.stdin.buffer.read()), {spec}\n"
        "print(loaded == fresh, hash(loaded) == hash(fresh), len({loaded: 1, fresh: 2}))",
        seed=2,
        stdin=dumped,
    )
    assert verdict.split() == [b"True", b"True", b"1"]


def test_pickling_round_trips_in_process():
    spec = PoolSpec((3, 2), stride=(1, 2), padding=((0, 1), 2), dilation=2, ceil_mode=True)
    loaded = pickle.loads(pickle.dumps(spec))
    assert loaded == spec
    assert hash(loaded) == hash(spec)


@pytest.mark.parametrize("name", impls.names())
def test_masked_input_is_refused(name):
    x = np.ma.masked_array([[1.0, 9.0], [3.0, 4.0]], mask=[[False, True], [False, False]])
    with pytest.raises(TypeError, match=r"x is a numpy\.ma\.MaskedArray.*x\.filled"):
        impls.get(name).forward(x, PoolSpec((2, 2)))
    assert x.mask[0, 1]  # untouched


@pytest.mark.parametrize("name", impls.names())
def test_masked_gradient_and_indices_are_refused(name):
    spec, shape = PoolSpec((2, 2)), (2, 2)
    plain = np.ones((1, 1))
    masked = np.ma.masked_array(plain, mask=[[True]])
    with pytest.raises(TypeError, match=r"grad_out is a numpy\.ma\.MaskedArray"):
        impls.get(name).backward(masked, np.zeros((1, 1), np.int64), shape, spec)
    with pytest.raises(TypeError, match=r"indices is a numpy\.ma\.MaskedArray"):
        impls.get(name).backward(plain, np.ma.masked_array([[0]], mask=[[True]]), shape, spec)
