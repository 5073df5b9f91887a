"""Lab sizes: ``pick`` returns the small size in small mode, the GPU size only with a GPU, else the full size."""

import pytest

from labsupport import labmode


@pytest.mark.parametrize("value, small", [("1", True), ("yes", True), ("0", False), ("", False), ("false", False)])
def test_small_mode_reads_the_environment(monkeypatch, value, small):
    monkeypatch.setenv(labmode.ENV_VAR, value)
    assert labmode.small_mode() is small


@pytest.mark.parametrize("small, gpu, expected", [
    (True, True, 2), (True, False, 2),      # small mode wins, with or without a GPU
    (False, True, 50), (False, False, 10),  # otherwise the GPU size needs a GPU
])
def test_pick_chooses_by_mode_and_device(monkeypatch, small, gpu, expected):
    monkeypatch.setenv(labmode.ENV_VAR, "1" if small else "0")
    monkeypatch.setattr(labmode, "gpu_available", lambda: gpu)
    assert labmode.pick(10, 2, gpu=50) == expected


def test_without_a_gpu_size_the_full_size_is_used_on_a_gpu_too(monkeypatch):
    monkeypatch.setenv(labmode.ENV_VAR, "0")
    monkeypatch.setattr(labmode, "gpu_available", lambda: pytest.fail("no GPU size given: the device is not probed"))
    assert labmode.pick([1, 2], [1]) == [1, 2]
