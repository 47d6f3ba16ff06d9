"""Build the compiled kernels ahead of first use: ``python -m adaunpool.build [--cuda] [--load]``.

Without ``--cuda`` the CPU kernels are built (what the first op call would do on a CPU machine).
``--cuda`` also compiles and links the CUDA kernels, which needs nvcc (CUDA_HOME) but no GPU: set
TORCH_CUDA_ARCH_LIST (for example "9.0") when no GPU is there to read it from. ``--load`` loads the
built library into this process and checks that its ops registered.
"""

from __future__ import annotations

import argparse
import sys

import torch

from ._loader import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adaunpool.build", description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", action="store_true", help="also compile and link the CUDA kernels")
    parser.add_argument("--load", action="store_true", help="load the library and check its ops")
    parser.add_argument("--verbose", action="store_true", help="show the compiler's command lines")
    args = parser.parse_args(argv)
    lib = build(with_cuda=args.cuda, verbose=args.verbose)
    print(f"built {lib}")
    if args.load:
        torch.ops.load_library(str(lib))
        ops = ("adapool_forward", "adapool_backward", "adaunpool_forward", "adaunpool_backward", "threads_used")
        for op in ops:
            getattr(torch.ops.adaunpool, op)  # raises if the op did not register
        print(f"loaded; ops registered: {', '.join(ops)}; the CPU kernels run on "
              f"{torch.ops.adaunpool.threads_used()} of torch's {torch.get_num_threads()} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
