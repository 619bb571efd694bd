"""Compare finished runs from their TensorBoard files: figures (PNG) + tables (Markdown, CSV). No retraining.

    python train.py experiment=regularization          # the six variants into logs/multiruns/<time>/
    python scripts/compare.py                          # the newest logs/multiruns/<time>/ -> <it>/comparison/
    python scripts/compare.py logs/multiruns/<time>    # or any dir holding runs (a logs dir, one run dir)
    python scripts/compare.py logs --out docs/figures/compare

Writes comparison.md/.csv (one row per run), pooled.md/.csv (runs that differ only in seed pooled: n, mean and
95% CI, paired difference to the baseline) and the figures. What could not be read from the event files
(truncated, corrupt, empty, no HPARAMS summary, no test metrics) is printed as `warning: <file>: ...` lines on
stderr, written to warnings.txt next to the tables and flagged in the affected rows.
Exit code 2 with a one-line `error:` when the dir holds no usable run (or, with --strict, on any warning).
"""

import argparse
import os
import sys
from pathlib import Path

from overfit.cli import ROOT_ENV, project_root
from overfit.compare import REFERENCE, load_runs, markdown_table, pooled_markdown, write_comparison
from overfit.errors import OverfitError

# The project's logs/, wherever this is launched from (as train.py's runs: conf/paths/default.yaml)
LOGS = Path(os.environ.get(ROOT_ENV) or project_root(Path(__file__).resolve().parents[1] / "conf")) / "logs"


def newest_sweep(logs: Path = LOGS) -> Path:
    sweeps = sorted(p for p in (logs / "multiruns").glob("*") if p.is_dir())
    if not sweeps:
        raise OverfitError(
            f"no sweep under {logs / 'multiruns'}; run `python train.py experiment=regularization` "
            "first or pass a dir: python scripts/compare.py <dir>"
        )
    return sweeps[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", nargs="?", type=Path, help="sweep, run or logs dir (default: newest logs/multiruns/*)")
    parser.add_argument("--out", type=Path, help="where figures and tables go (default: <dir>/comparison)")
    parser.add_argument(
        "--reference",
        default=REFERENCE,
        help=f"variant the paired differences are taken against (default: {REFERENCE})",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 when anything could not be read (the tables and figures are still written)",
    )
    args = parser.parse_args(argv)
    try:
        root = args.dir or newest_sweep()
        runs = load_runs(root)
        print(f"found {len(runs)} run(s) under {root}:")
        for run in runs:
            flag = f"  [{run.row()['problems']}]" if run.problems else ""
            print(f"  {run.label:<28} {run.path}{flag}")
        written = write_comparison(runs, args.out or root / "comparison", reference=args.reference)
    except OverfitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    tables = {p.name: p for p in written["tables"]}
    print(markdown_table(written["rows"]))
    print(pooled_markdown(written["pooled"], args.reference), end="")
    for warning in written["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {len(written['figures'])} figures and {', '.join(tables)} to {tables['comparison.md'].parent}")
    if written["warnings"]:
        print(f"{len(written['warnings'])} warning(s): see stderr or {tables['warnings.txt']}")
        if args.strict:
            print(
                f"error: {len(written['warnings'])} warning(s) and --strict: see {tables['warnings.txt']}",
                file=sys.stderr,
            )
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
