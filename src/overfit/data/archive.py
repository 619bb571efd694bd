"""The aclImdb_v1.tar.gz archive: find or download it, verify its SHA-256, read the labeled reviews from the tar stream.

Never extracts: 50k small files on disk are slower to read back than the gzip stream itself (~2.5 s here).
"""

import gzip
import hashlib
import re
import tarfile
import zlib
from pathlib import Path

from tqdm import tqdm

from overfit.errors import OverfitError

ARCHIVE_NAME = "aclImdb_v1.tar.gz"
# Checksums whose content we know: 12,500 reviews per class per split, so counts are checked exactly.
KNOWN_SHA256 = {
    "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe": "official aclImdb_v1.tar.gz (84,125,825 bytes)",
    "31bbe7e7323e013757302545e5489d7f2eaa0fb516df659b7ee8ed3e4d5978fc": "labeled repack aclImdb_v1_labeled.tar.gz",
}
REVIEWS_PER_CLASS = 12_500
# What one archive member may cost: a review's size comes from its tar header, so an oversized member (a 200 MB
# "review", a tar bomb) is refused before it is read. The largest real review is 13,704 bytes
# (aclImdb/train/pos/1175_9.txt); all 50k labeled ones hold ~65 MB. Skipped members (unsup/, imdb.vocab...) are
# streamed past in blocks, never held whole.
MAX_REVIEW_BYTES = 1 << 20
MAX_TOTAL_REVIEW_BYTES = 1 << 30
LABELS = {"neg": 0, "pos": 1}  # from the folder name only; the rating in the file name is just a cross-check
_REVIEW = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt")
_HINT = "set data.archive=/path/to/aclImdb_v1.tar.gz or the OVERFIT_IMDB_ARCHIVE environment variable"


def locate(archive: str | None, data_dir: str, url: str, download: bool = True) -> Path:
    """The archive path: `archive` if given, else <data_dir>/aclImdb_v1.tar.gz, else downloaded there with pooch."""
    if archive is not None:
        path = Path(archive).expanduser()
        if not path.is_file():
            raise OverfitError(
                f"IMDB archive {str(path)!r} (data.archive / OVERFIT_IMDB_ARCHIVE) does not exist: "
                f"fix the path, or set data.archive=null to look in data_dir / download"
            )
        return path
    path = Path(data_dir).expanduser() / ARCHIVE_NAME
    if path.is_file() or not download:
        return path
    import pooch  # only needed on a first run; pooch writes to a temp file and renames it when complete

    try:
        pooch.retrieve(url, known_hash=None, fname=ARCHIVE_NAME, path=path.parent, progressbar=True)
    except Exception as exc:  # requests/HTTP/OS errors all mean the same thing to the user
        raise OverfitError(
            f"no IMDB archive at {str(path)!r} and downloading {url} failed "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}): "
            f"{_HINT}"
        ) from None
    return path


def sha256sum(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (~0.1 s for the 28 MB repack)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, accepted: list[str] | None) -> str:
    """Check gzip magic and SHA-256 against `accepted` (None: skip); returns the actual checksum (the cache key)."""
    with open(path, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            raise OverfitError(
                f"IMDB archive {str(path)!r} is not a gzip file: point data.archive at aclImdb_v1.tar.gz"
            )
    actual = sha256sum(path)
    if accepted is not None and actual not in [s.lower() for s in accepted]:
        raise OverfitError(
            f"IMDB archive {str(path)!r} has SHA-256 {actual}, expected one of {list(accepted)}: "
            f"re-download it, or skip the check with data.sha256=null"
        )
    return actual


def read_reviews(path: Path, checksum: str) -> dict[str, list[tuple[int, int, int, str]]]:
    """{"train"|"test": [(label, review id, rating, text), ...]} sorted by (label, id), so tar order never matters."""
    splits, total = {"train": [], "test": []}, 0
    try:
        # gzip.open, not tarfile's "r|gz": tarfile's own stream ends quietly at a truncation, GzipFile raises
        # EOFError there and checks the CRC when drained below.
        with (
            gzip.open(path) as gz,
            tarfile.open(fileobj=gz, mode="r|") as tar,
            tqdm(
                total=4 * REVIEWS_PER_CLASS if checksum in KNOWN_SHA256 else None,  # else: a count, no bar
                unit=" reviews",
                desc="Reading IMDB",
                mininterval=0.5,
            ) as bar,
        ):
            for i, member in enumerate(tar):
                name = member.name.removeprefix("./")
                if i == 0 and name.split("/")[0] != "aclImdb":  # fail in milliseconds, not after the whole stream
                    raise OverfitError(
                        f"IMDB archive {str(path)!r} starts with {name!r}, not aclImdb/: "
                        f"point data.archive at the official aclImdb_v1.tar.gz"
                    )
                match = _REVIEW.fullmatch(name)  # unsup/, *.feat, urls_*.txt, README... are skipped here
                if match is None or not member.isfile():
                    continue
                split, folder, review_id, rating = match.groups()
                review_id, rating = int(review_id), int(rating)
                if (folder == "pos" and rating < 7) or (folder == "neg" and rating > 4):
                    raise OverfitError(
                        f"IMDB archive {str(path)!r}: {name} has rating {rating} but sits in {folder}/ "
                        f"(pos needs >= 7, neg <= 4): the archive is mislabeled, use the official one"
                    )
                total += member.size
                if member.size > MAX_REVIEW_BYTES or total > MAX_TOTAL_REVIEW_BYTES:
                    what = (
                        f"{name} is {member.size:,} bytes, over the {MAX_REVIEW_BYTES:,}-byte limit for one review"
                        if member.size > MAX_REVIEW_BYTES
                        else f"its reviews up to {name} hold {total:,} bytes, over the {MAX_TOTAL_REVIEW_BYTES:,}-byte "
                        f"limit for all of them"
                    )
                    raise OverfitError(
                        f"IMDB archive {str(path)!r}: {what} (real IMDB reviews are under 14 KB): "
                        f"the archive is not aclImdb, use the official one"
                    )
                text = tar.extractfile(member).read(MAX_REVIEW_BYTES + 1).decode("utf-8", errors="replace")
                splits[split].append((LABELS[folder], review_id, rating, text))
                bar.update()
            while gz.read(1 << 20):  # the rest (tar padding): reaching the gzip trailer verifies its CRC
                pass
    except (tarfile.ReadError, EOFError, zlib.error, OSError) as exc:
        raise OverfitError(
            f"IMDB archive {str(path)!r} is truncated or corrupt ({type(exc).__name__}: {exc}): "
            f"delete it and download it again"
        ) from None
    for split, reviews in splits.items():
        reviews.sort(key=lambda r: (r[0], r[1]))
        counts = [sum(r[0] == label for r in reviews) for label in (0, 1)]
        if min(counts) == 0:
            raise OverfitError(
                f"IMDB archive {str(path)!r}: split {split} has {counts[0]} neg and {counts[1]} pos "
                f"reviews under aclImdb/{split}/{{neg,pos}}/: it needs both classes, "
                f"use the official archive"
            )
        if checksum in KNOWN_SHA256 and counts != [REVIEWS_PER_CLASS] * 2:
            raise OverfitError(
                f"IMDB archive {str(path)!r} ({KNOWN_SHA256[checksum]}): split {split} has {counts} "
                f"neg/pos reviews, expected 12,500 each: the file is damaged, download it again"
            )
    return splits
