"""A stand-in for PyTorch on a machine without a GPU (tests only): the few tensor operations
triton-rmsnorm's benchmark.py uses, over NumPy, on a pretend CUDA device. It lets the cargo
tests run the judge's GPU path -- fresh input per call, sentinel, verification, timing,
the JSON -- with a kernel written against it; it says nothing about Triton kernels."""

import time as _time

import numpy as _np

__version__ = "0.0-mock"
float16, int16, float32, float64 = _np.float16, _np.int16, _np.float32, _np.float64


class device:
    def __init__(self, name):
        self.name = name


class Tensor:
    def __init__(self, arr):
        self.arr = arr

    shape = property(lambda self: self.arr.shape)

    def stride(self, dim):
        return self.arr.strides[dim] // self.arr.itemsize

    def to(self, _device):
        return Tensor(self.arr.copy())

    def __getitem__(self, index):
        return Tensor(self.arr[index])

    def __setitem__(self, index, value):
        self.arr[index] = value.arr if isinstance(value, Tensor) else value

    def view(self, dtype):
        return Tensor(self.arr.view(dtype))

    def fill_(self, value):
        self.arr.fill(value)
        return self

    def copy_(self, other):
        self.arr[...] = other.arr
        return self

    def double(self):
        return Tensor(self.arr.astype(_np.float64))

    def float(self):
        return Tensor(self.arr.astype(_np.float32))

    def abs(self):
        return Tensor(_np.abs(self.arr))

    def sum(self):
        return Tensor(_np.asarray(self.arr.sum()))

    def max(self):
        return Tensor(_np.asarray(self.arr.max()))

    def all(self):
        return Tensor(_np.asarray(self.arr.all()))

    def item(self):
        return self.arr.item()

    def _other(self, other):
        return other.arr if isinstance(other, Tensor) else other

    def __eq__(self, other):
        return Tensor(self.arr == self._other(other))

    def __sub__(self, other):
        return Tensor(self.arr - self._other(other))

    def __add__(self, other):
        return Tensor(self.arr + self._other(other))

    __radd__ = __add__

    def __mul__(self, other):
        return Tensor(self.arr * self._other(other))

    __rmul__ = __mul__


def from_numpy(arr):
    return Tensor(arr)


def empty(shape, dtype=float32, device=None):
    return Tensor(_np.empty(shape, dtype=dtype))


def isfinite(t):
    return Tensor(_np.isfinite(t.arr))


def mock_rmsnorm_gelu(x, gate, weight, eps):
    """The task's function in float32, as a kernel would compute it."""
    xf, gf = x.arr.astype(_np.float32), gate.arr.astype(_np.float32)
    inv = 1.0 / _np.sqrt(_np.mean(xf * xf, axis=-1, keepdims=True) + _np.float32(eps))
    gelu = 0.5 * gf * (1.0 + _np.tanh(_np.float32(0.7978845608028654) * (gf + 0.044715 * gf**3)))
    return Tensor((xf * inv * (1.0 + weight.arr) * gelu).astype(_np.float16))


class _Event:
    def __init__(self, enable_timing=False):
        self.t = None

    def record(self, stream=None):
        self.t = _time.perf_counter_ns()

    def elapsed_time(self, end):
        return (end.t - self.t) / 1e6


class cuda:
    Event = _Event

    @staticmethod
    def is_available():
        return True

    @staticmethod
    def get_device_name(_index):
        return "mock GPU (NumPy)"

    @staticmethod
    def synchronize():
        pass
