"""The PyTensor set-up of `theano_tp2.py`: float32, the C backend's compile mode, g++ flags.

Importing this module loads and configures PyTensor for the whole process; the script imports
it where it builds its graphs (so that `--help` answers without PyTensor), writes
`import pytensor` where Theano's code wrote `import theano`, and compiles every function with
`mode=COMPILE_MODE`. A bad PYTENSOR_FLAGS is a UserError (one 'error:' line, exit 2). README
("Performance notes") says why each setting.
"""

import logging
import sys
import warnings

from tp2.cli import UserError

try:
    import pytensor
    import pytensor.tensor  # noqa: F401 (the ops the graphs use load with it)
    from pytensor.compile.mode import Mode
except ValueError as error:  # PyTensor checks PYTENSOR_FLAGS and its compile folder as it loads
    raise UserError(f"PyTensor cannot start: {error}; fix or unset PYTENSOR_FLAGS (or ~/.pytensorrc)") from None

# No system BLAS: PyTensor uses NumPy's (same results), so its warning is noise (README, Performance notes).
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")
logging.getLogger("pytensor.tensor.blas_headers").setLevel(logging.ERROR)

# 8-bit pixels gain nothing from float64; float32 halves the memory traffic (README, Performance notes).
FLOATX = "float32"
pytensor.config.floatX = FLOATX

# C thunks that keep their buffers between calls (README, Performance notes).
COMPILE_MODE = Mode(linker="cvm_nogc", optimizer="fast_run")
# Without a BLAS to link, NumPy's Dot beats the Gemv/Gemm rewrites' calls into SciPy (README, Performance notes).
if not pytensor.config.blas__ldflags:
    COMPILE_MODE = COMPILE_MODE.excluding("BlasOpt")

# Lets g++ use glibc's vectorised exp/log in fused loops, without -ffast-math (README, Performance notes).
VECTOR_MATH_FLAG = "-D__FAST_MATH__"
if sys.platform.startswith("linux") and VECTOR_MATH_FLAG not in pytensor.config.gcc__cxxflags.split():
    pytensor.config.gcc__cxxflags = f"{pytensor.config.gcc__cxxflags} {VECTOR_MATH_FLAG}".strip()
