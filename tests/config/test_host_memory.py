import platform
import subprocess
import sys

import pytest

from lightning_hydra_template.config.host_memory import keep_freed_memory
from lightning_hydra_template.errors import ConfigError

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt"
)

# A "training step" that frees six 1 MiB buffers at once (as a step frees its activations), then
# the minor page faults per step. Raw malloc, so that nothing imported before changes the heap.
STEPS_WITH_FAULT_COUNT = """
import ctypes, resource, sys
from lightning_hydra_template.config.host_memory import keep_freed_memory
keep_freed_memory(None if sys.argv[1] == "none" else int(sys.argv[1]))
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def step():
    buffers = [libc.malloc(1 << 20) for _ in range(6)]
    for buffer in buffers:
        ctypes.memset(buffer, 1, 1 << 20)
    for buffer in buffers:
        libc.free(buffer)
for _ in range(10):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50)
"""


def faults_per_step(trim_threshold_mb: str) -> float:
    command = [sys.executable, "-c", STEPS_WITH_FAULT_COUNT, trim_threshold_mb]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(result.stdout)


@glibc_only
def test_freed_activations_are_reused_instead_of_faulted_back_in():
    default = faults_per_step("none")
    if default < 100:
        pytest.skip(f"this C library does not hand this pattern back to the kernel ({default} faults/step)")
    assert faults_per_step("256") < 1


def test_null_keeps_the_c_library_default():
    assert keep_freed_memory(None) is False


@glibc_only
def test_a_threshold_takes_effect_on_glibc():
    assert keep_freed_memory(256) is True


@pytest.mark.parametrize("value", [-1, 2048, 1.5, True, "256"])
def test_a_threshold_that_is_not_whole_megabytes_names_the_key(value):
    with pytest.raises(ConfigError, match="malloc_trim_threshold_mb"):
        keep_freed_memory(value)
