"""Print P(positive) for reviews, from a checkpoint written by train.py.

    python predict.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt "A moving, brilliant film." "Dull."
    python predict.py ckpt_path=... file=reviews.txt        # one review per line

One row per review, in order; its # is the review's line number when they come from file= alone
(arguments come first, then the file's lines). An empty line keeps its row, marked [empty]; a review
with no word of the checkpoint's vocabulary gets "-" and [no known word] instead of a probability.
Lines end at \\n (or \\r\\n); the file is UTF-8 (a BOM is dropped) or UTF-16/32 with a BOM.
"""

import re
import sys

from overfit.checkpoints.classifier import load_classifier
from overfit.errors import OverfitError
from overfit.predict import format_predictions, predict_with, read_reviews_file


def main(argv: list[str]) -> int:
    settings = {"ckpt_path": None, "file": None}
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
                raise OverfitError(f"{arg!r}: unknown option; the settings are ckpt_path=<path> and file=<path>")
            elif eq and " " not in arg and re.fullmatch(r"[A-Za-z_][\w.]*", key):
                # `files=x.txt` (a typo) would otherwise be scored as a review; real reviews have spaces
                raise OverfitError(
                    f"{arg!r}: unknown setting {key}=; the settings are ckpt_path= and file= "
                    "(a review that is one word with '=' can go in a file= instead)"
                )
            else:
                reviews.append(arg)
        if not settings["ckpt_path"]:
            raise OverfitError("missing ckpt_path=<path to a .ckpt written by train.py>")
        model, state = load_classifier(settings["ckpt_path"])  # a bad checkpoint is refused before the file is read
        if settings["file"]:
            reviews += read_reviews_file(settings["file"])
        print(format_predictions(reviews, predict_with(model, state, reviews)))
    except OverfitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
