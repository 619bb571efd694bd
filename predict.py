"""Print P(positive) for reviews, from a checkpoint written by train.py.

    python predict.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt "A moving, brilliant film." "Dull."
    python predict.py ckpt_path=... file=reviews.txt        # one review per line
    python predict.py ckpt_path=... format=json "Dull."     # for scripts: format=json or format=csv

One row per review, in order; its # is the review's line number when they come from file= alone
(arguments come first, then the file's lines). An empty line keeps its row, marked [empty]; a review
with no word of the checkpoint's vocabulary gets "-" and [no known word] instead of a probability.
Lines end at \\n (or \\r\\n); the file is UTF-8 (a BOM is dropped) or UTF-16/32 with a BOM.
format=json prints a list of {"n", "review", "p_positive", "label", "note"} (the whole review; null where the
table prints "-"), format=csv the same columns with a header row.
"""

import re
import sys

from overfit.errors import OverfitError

FORMATS = ("table", "json", "csv")


def load_classifier(path: str):
    """torch and Lightning are imported here, once the command line is accepted: `--help` and a mistyped
    setting answer at once (tests/docs_check.py replaces this name to stop a command there)."""
    from overfit.checkpoints.classifier import load_classifier as load

    return load(path)


def main(argv: list[str]) -> int:
    settings = {"ckpt_path": None, "file": None, "format": "table"}
    reviews = []
    try:
        for arg in argv:
            key, eq, value = arg.partition("=")
            if key in settings and eq:
                if not value:
                    raise OverfitError(f"{key}= is empty: give {key}=<path>")
                settings[key] = value
            elif arg in ("-h", "--help"):
                print(__doc__)
                return 0
            elif re.fullmatch(r"--?[A-Za-z][\w-]*", key):  # `--file x.txt`: an option, not a review
                raise OverfitError(
                    f"{arg!r}: unknown option; the settings are ckpt_path=<path>, file=<path> and format=table|json|csv"
                )
            elif eq and " " not in arg and re.fullmatch(r"[A-Za-z_][\w.]*", key):
                # `files=x.txt` (a typo) would otherwise be scored as a review; real reviews have spaces
                raise OverfitError(
                    f"{arg!r}: unknown setting {key}=; the settings are ckpt_path=, file= and format= "
                    "(a review that is one word with '=' can go in a file= instead)"
                )
            else:
                reviews.append(arg)
        if settings["format"] not in FORMATS:
            raise OverfitError(f"format={settings['format']}: choose format=table (for people), json or csv")
        if not settings["ckpt_path"]:
            raise OverfitError("missing ckpt_path=<path to a .ckpt written by train.py>")
        model, state = load_classifier(settings["ckpt_path"])  # a bad checkpoint is refused before the file is read
        from overfit.predict import format_predictions, predict_with, read_reviews_file  # torch: loaded by now

        if settings["file"]:
            reviews += read_reviews_file(settings["file"])
        out = format_predictions(reviews, predict_with(model, state, reviews), style=settings["format"])
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
    except OverfitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
