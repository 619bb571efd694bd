"""`python -m benchmarks`: the one entry point (run from the repository root). A first word `threads`,
`calibration`, `factorization`, `startup` or `gpu-check` picks that benchmark; anything else goes to the main
benchmark (benchmark.py), whose own arguments are options and Hydra overrides (key=value), never one of those words."""

from __future__ import annotations

import sys

SUBCOMMANDS = {
    "calibration": "calibration",
    "threads": "threads",
    "factorization": "factorization",
    "startup": "startup",
    "gpu-check": "gpu_check",
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        from importlib import import_module

        # imported only when picked: the GPU check must start where hydra-core is not installed yet
        module = import_module(f".{SUBCOMMANDS[argv[0]]}", __package__)
        module.main(argv[1:], prog=f"python -m benchmarks {argv[0]}")
        return
    from .benchmark import main as benchmark

    benchmark(argv)


if __name__ == "__main__":
    main()
