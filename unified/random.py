"""The random generator: a Philox4x32-10 state (seed, offset). Random ops (unified/ops/random.py)
take both as an int64 (2,) input tensor (`draw`), so a value depends only on (seed, offset, its
index) and a traced graph carries the state as an input: the same numbers in eager,
traced and deployed runs, for any thread count. Each draw of n values advances the offset by n.
torch.random's API: manual_seed, seed, initial_seed, get_rng_state, set_rng_state, fork_rng.
The sampling functions (randn, rand, dropout, ...) are in unified/functional/random.py."""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

import numpy as np

DEFAULT_SEED = 67280421310721  # PyTorch's default seed
_U64 = 1 << 64
_STATE_BYTES = 16  # seed and offset, 8 little-endian bytes each


def _signed(value: int) -> int:
    """A uint64 as the int64 with the same bits (attrs are int64; kernels read the bits)."""
    return value - _U64 if value >= 1 << 63 else value


class Generator:
    """A random state that random functions take as `generator=` (else the default generator).

    >>> import unified as U
    >>> g = U.Generator().manual_seed(0)
    >>> a = U.randn(3, generator=g).tolist()
    >>> a == U.randn(3, generator=g.manual_seed(0)).tolist()
    True
    """

    def __init__(self, device: str = "cpu") -> None:
        if device not in (None, "cpu"):
            raise RuntimeError(f"Generator: device '{device}' is not available (CPU only)")
        self._seed = DEFAULT_SEED
        self._offset = 0
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        return "cpu"

    def manual_seed(self, seed: int) -> "Generator":
        """Set the seed (any int in [-2**63, 2**64)) and restart the stream at offset 0."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
        seed = int(seed)
        if not -(1 << 63) <= seed < _U64:
            raise ValueError(f"manual_seed: seed must be in [-2**63, 2**64), got {seed}")
        with self._lock:
            self._seed = seed % _U64
            self._offset = 0
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy; returns the seed."""
        value = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(value)
        return value

    def initial_seed(self) -> int:
        return self._seed

    @property
    def offset(self) -> int:
        """Philox counter position: the number of values drawn since the seed was set."""
        return self._offset

    def get_state(self):
        """The state as a uint8 tensor of 16 bytes (seed, offset; little-endian)."""
        from unified.tensor import wrap

        raw = self._seed.to_bytes(8, "little") + self._offset.to_bytes(8, "little")
        return wrap(np.frombuffer(raw, np.uint8).copy())

    def set_state(self, new_state) -> "Generator":
        data = np.asarray(getattr(new_state, "_data", new_state))
        if data.dtype != np.uint8 or data.shape != (_STATE_BYTES,):
            raise ValueError(f"set_state: expected a uint8 tensor of shape ({_STATE_BYTES},) from "
                             f"get_state(), got {data.dtype} of shape {data.shape}")
        raw = data.tobytes()
        with self._lock:
            self._seed = int.from_bytes(raw[:8], "little")
            self._offset = int.from_bytes(raw[8:], "little")
        return self

    def draw(self, numel: int):
        """The `state` input of a random op drawing `numel` values (an int64 tensor (seed,
        offset), read-only); advances the offset by `numel`."""
        with self._lock:
            seed, offset = self._seed, self._offset
            self._offset = (offset + int(numel)) % _U64
        return state_tensor(seed, offset)

    def __repr__(self) -> str:
        return f"Generator(seed={self._seed}, offset={self._offset})"


def state_array(seed: int, offset: int) -> np.ndarray:
    """(seed, offset) as the int64 array a random op reads (the kernel reads the bits)."""
    array = np.array((_signed(seed % _U64), _signed(offset % _U64)), np.int64)
    array.flags.writeable = False
    return array


def state_tensor(seed: int, offset: int):
    from unified.tensor import wrap

    return wrap(state_array(seed, offset))


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (same seed -> same numbers).

    >>> import unified as U
    >>> _ = U.manual_seed(7); a = U.rand(2).tolist()
    >>> _ = U.manual_seed(7); a == U.rand(2).tolist()
    True
    """
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(enabled: bool = True) -> Iterator[None]:
    """Restore the default generator's state when the block exits."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def resolve(generator: Generator | None) -> Generator:
    if generator is None:
        return default_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a unified.Generator, got {type(generator).__name__}")
    return generator
