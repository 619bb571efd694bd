"""Bad input to IMDBDataModule, each refused in one line that names the culprit and the fix: a split with one
class, a rating that contradicts its folder, checksums, a truncated or non-gzip file, no aclImdb layout, no
archive and no network; and the archive found in data_dir when none is given."""

from pathlib import Path

import pytest
from conftest import write_archive
from test_data_imdb import make, ready, review_files

from overfit.data import archive as imdb_archive
from overfit.errors import OverfitError


@pytest.fixture
def archive(tmp_path) -> Path:
    return write_archive(tmp_path / "small.tar.gz", review_files())


def one_line(exc_info):
    assert "\n" not in str(exc_info.value)
    return str(exc_info.value)


def test_one_class_split(tmp_path):
    files = {k: v for k, v in review_files().items() if "/test/pos/" not in k}
    with pytest.raises(OverfitError, match="split test has 50 neg and 0 pos") as e:
        ready(write_archive(tmp_path / "a.tar.gz", files), tmp_path)
    one_line(e)
    assert not (tmp_path / "data" / "cache").exists() or not any((tmp_path / "data" / "cache").rglob("*.json"))


def test_rating_contradicts_folder(tmp_path):
    files = review_files()
    name = next(k for k in files if "/train/pos/" in k)
    files[name.rsplit("_", 1)[0] + "_3.txt"] = files.pop(name)
    with pytest.raises(OverfitError, match="rating 3 but sits in pos/") as e:
        ready(write_archive(tmp_path / "a.tar.gz", files), tmp_path)
    one_line(e)


def test_known_checksum_requires_full_counts(archive, tmp_path, monkeypatch):
    monkeypatch.setitem(imdb_archive.KNOWN_SHA256, imdb_archive.sha256sum(archive), "pretend official")
    with pytest.raises(OverfitError, match="expected 12,500 each"):
        ready(archive, tmp_path)


def test_checksum_mismatch(archive, tmp_path, monkeypatch):
    monkeypatch.setattr(imdb_archive, "read_reviews", None)  # must fail before reading anything
    with pytest.raises(OverfitError, match="data.sha256=null") as e:
        ready(archive, tmp_path, sha256=["0" * 64])
    assert imdb_archive.sha256sum(archive) in one_line(e) and "0" * 64 in one_line(e)


def test_truncated_gzip(archive, tmp_path):
    data = archive.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(OverfitError, match="truncated or corrupt") as e:
        ready(cut, tmp_path)
    one_line(e)
    assert not any((tmp_path / "data").rglob("*.npz"))


def test_not_gzip(tmp_path):
    path = tmp_path / "aclImdb_v1.tar.gz"
    path.write_text("<html>404 Not Found</html>")
    with pytest.raises(OverfitError, match="not a gzip file") as e:
        ready(path, tmp_path)
    one_line(e)


@pytest.mark.parametrize("files", [{"movies/train/pos/0_9.txt": "x"}, {"aclImdb/README": "only a readme"}])
def test_no_aclimdb_layout(tmp_path, files):
    with pytest.raises(OverfitError, match="aclImdb") as e:
        ready(write_archive(tmp_path / "a.tar.gz", files), tmp_path)
    one_line(e)


def test_missing_explicit_archive(tmp_path):
    with pytest.raises(OverfitError, match="does not exist") as e:
        make(tmp_path / "nope.tar.gz", tmp_path).prepare_data()
    one_line(e)


def test_no_archive_and_no_network(tmp_path):
    dm = make(None, tmp_path, url="http://127.0.0.1:9/aclImdb_v1.tar.gz")
    with pytest.raises(OverfitError, match="OVERFIT_IMDB_ARCHIVE") as e:
        dm.prepare_data()
    message = one_line(e)
    assert "data.archive=" in message and str(tmp_path / "data" / "aclImdb_v1.tar.gz") in message
    assert not any((tmp_path / "data").rglob("*.gz"))  # no half-downloaded file


def test_archive_found_in_data_dir(archive, tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "aclImdb_v1.tar.gz").write_bytes(archive.read_bytes())
    monkeypatch.setattr("pooch.retrieve", None)  # would fail if it tried to download
    assert ready(None, tmp_path).model_kwargs == {"vocab_size": 20}
