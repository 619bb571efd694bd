"""Print P(positive) for reviews, from a checkpoint written by train.py.

    python predict.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt "A moving, brilliant film." "Dull."
    python predict.py ckpt_path=... file=reviews.txt        # one review per line
"""

import sys

from overfit.errors import OverfitError
from overfit.predict import format_predictions, predict, read_reviews_file


def main(argv: list[str]) -> int:
    settings = {"ckpt_path": None, "file": None}
    reviews = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key in settings and value:
            settings[key] = value
        elif arg in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            reviews.append(arg)
    try:
        if not settings["ckpt_path"]:
            raise OverfitError("missing ckpt_path=<path to a .ckpt written by train.py>")
        if settings["file"]:
            reviews += read_reviews_file(settings["file"])
        print(format_predictions(reviews, predict(settings["ckpt_path"], reviews)))
    except OverfitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
