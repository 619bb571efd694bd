"""Compare finished runs from their TensorBoard files: figures (PNG) + a table (Markdown, CSV). No retraining.

    python train.py experiment=regularization          # the six variants into logs/multiruns/<time>/
    python scripts/compare.py                          # the newest logs/multiruns/<time>/ -> <it>/comparison/
    python scripts/compare.py logs/multiruns/<time>    # or any dir holding runs (a logs dir, one run dir)
    python scripts/compare.py logs --out docs/figures/compare

Exit code 2 with a one-line `error:` when the dir holds no runs.
"""

import argparse
import sys
from pathlib import Path

from overfit.compare import load_runs, write_comparison
from overfit.errors import OverfitError


def newest_sweep(logs: Path = Path("logs")) -> Path:
    sweeps = sorted(p for p in (logs / "multiruns").glob("*") if p.is_dir())
    if not sweeps:
        raise OverfitError(f"no sweep under {logs / 'multiruns'}; run `python train.py experiment=regularization` "
                           "first or pass a dir: python scripts/compare.py <dir>")
    return sweeps[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", nargs="?", type=Path, help="sweep, run or logs dir (default: newest logs/multiruns/*)")
    parser.add_argument("--out", type=Path, help="where figures and tables go (default: <dir>/comparison)")
    args = parser.parse_args(argv)
    try:
        root = args.dir or newest_sweep()
        runs = load_runs(root)
        print(f"found {len(runs)} run(s) under {root}:")
        for run in runs:
            print(f"  {run.label:<28} {run.path}")
        written = write_comparison(runs, args.out or root / "comparison")
    except OverfitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print((Path(written["tables"][0])).read_text(), end="")
    print(f"wrote {len(written['figures'])} figures and {', '.join(p.name for p in written['tables'])} "
          f"to {written['tables'][0].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
