"""Regenerate the README's results (tables: mean ± 95% CI over seeds; figures) from the three studies' sweeps.

    python train.py experiment=regularization          # 18 runs
    python train.py experiment=more_data               # 54 runs
    python train.py experiment=capacity                # 54 runs
    python scripts/results.py                          # newest sweep of each under logs/multiruns -> docs/results/
    python scripts/results.py --more-data logs/multiruns/<time> --partial    # a given sweep; not all three

Writes docs/results/results.md (a header naming the machine, the sweeps' date and torch version; per study:
runs, wall time, every table), <study>.csv (every pooled column) and <study>_*.png, and replaces the block
between the two `<!-- results:... -->` marker lines in README.md, where it has them, with a compact summary of
the same numbers (one short table per study, the figures, a link to results.md). The same sweep dirs give the
same files. Exit code 2 with a one-line `error:` when a study has no sweep (unless --partial) or none is readable.
"""

import argparse
import os
import sys
from pathlib import Path

from overfit.cli import ROOT_ENV, project_root
from overfit.compare.studies import STUDIES, newest_sweeps, study_of, write_results
from overfit.compare.study_tables import duration
from overfit.errors import OverfitError

# The project's logs/, docs/ and README, wherever this is launched from (as train.py's runs: conf/paths/default.yaml)
ROOT = Path(os.environ.get(ROOT_ENV) or project_root(Path(__file__).resolve().parents[1] / "conf"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for study in STUDIES:
        parser.add_argument(
            f"--{study.replace('_', '-')}",
            type=Path,
            metavar="DIR",
            help=f"the {study} sweep dir (default: the newest under <logs>/multiruns)",
        )
    parser.add_argument("--logs", type=Path, default=ROOT / "logs", help="where to look for sweeps (default: logs)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results", help="default: docs/results")
    parser.add_argument(
        "--readme",
        default=str(ROOT / "README.md"),
        help="README whose marked results block is replaced (default: README.md; none: '')",
    )
    parser.add_argument("--partial", action="store_true", help="write what there is when a study has no sweep")
    args = parser.parse_args(argv)
    try:
        sweeps = newest_sweeps(args.logs) if args.logs.is_dir() else {}
        for study in STUDIES:
            given = getattr(args, study)
            if given is not None:
                if not given.is_dir():
                    raise OverfitError(f"--{study.replace('_', '-')} {given}: no such directory")
                if study_of(given) not in (study, None):
                    raise OverfitError(f"{given} is an experiment={study_of(given)} sweep, not {study}")
                sweeps[study] = given
        missing = [s for s in STUDIES if s not in sweeps]
        if missing and not args.partial:
            raise OverfitError(
                f"no {', '.join(missing)} sweep under {args.logs / 'multiruns'}: run "
                + "; ".join(f"python train.py experiment={s}" for s in missing)
                + " (or pass --partial)"
            )
        for study in STUDIES:
            print(f"{study:<15} {sweeps.get(study, '-- none (skipped)')}")
        written = write_results(sweeps, args.out, Path(args.readme) if args.readme else None)
    except OverfitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for warning in written["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    for s in written["sweeps"]:
        print(
            f"{s.study:<15} {s.runs} runs, {duration(s.span_s)} wall (runs: {duration(s.wall_s)}, "
            f"fit {duration(s.train_s)})" + (f", {len(s.unfinished)} unfinished" if s.unfinished else "")
        )
    print(
        f"wrote {len(written['files'])} files to {args.out}"
        + (f"; updated the results block of {written['readme']}" if written["readme"] else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
