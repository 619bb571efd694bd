"""TensorBoard event files -> scalar series and the HPARAMS summary, saying what could not be read.

TensorBoard's own readers (EventAccumulator, EventFileLoader) stop at the first bad record of a file without a
word (a debug-level log line): a file truncated mid-record, a corrupted CRC or garbage appended all read as a
shorter, valid-looking run. So the records are read here (`read_records`), checking the length and both CRCs
of each; what could not be read becomes a `Problem`, named with its file. A record whose length checks but
whose data fails its CRC is skipped and reading goes on; a length that fails its CRC (corruption or appended
garbage) ends the file.
"""

from __future__ import annotations

import logging
import re
import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util

RANKED = re.compile(r"^\d\d (\S.*)$")  # an HPARAMS name with its rank (overfit.runs.tensorboard.tb_name)
# HPARAMS columns that are no setting: where the run lies, for TensorBoard's filters (not a reason to pool apart)
NOT_SETTINGS = {"sweep"}
logging.getLogger("tensorboard").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Problem:
    """Something that could not be read or is missing: `short` goes into the tables, `str()` into warnings."""

    path: Path  # the event file (or the run's event dir) it is about
    short: str  # e.g. "event file truncated"
    detail: str  # e.g. "truncated mid-record at byte 1234 of 2000: ..."

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}"


def read_records(path: Path) -> tuple[list[bytes], list[Problem]]:
    """The records of a TFRecord file (an event file) and what could not be read.

    A record is: length (uint64 LE), masked CRC-32C of the length, data, masked CRC-32C of the data.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        return [], [Problem(path, "event file unreadable", f"could not be read ({err.strerror or err})")]
    size, pos, records, problems = len(data), 0, [], []
    if size == 0:
        return [], [Problem(path, "empty event file", "empty event file (0 bytes): nothing could be read")]
    while pos < size:
        left = size - pos
        if left < 12:
            problems.append(
                Problem(
                    path,
                    "event file truncated",
                    f"truncated mid-record: the last {left} byte(s) (from byte {pos} of {size}) are "
                    f"an incomplete record header; {len(records)} record(s) read before it",
                )
            )
            break
        header = data[pos : pos + 8]
        if masked_crc32c(header) != struct.unpack("<I", data[pos + 8 : pos + 12])[0]:
            problems.append(
                Problem(
                    path,
                    "unreadable bytes in event file",
                    f"bytes {pos}-{size} of {size} could not be read (a record length fails its CRC: "
                    f"corrupted data or garbage appended); {len(records)} record(s) read before them",
                )
            )
            break
        length = struct.unpack("<Q", header)[0]
        end = pos + 12 + length + 4
        if end > size:
            problems.append(
                Problem(
                    path,
                    "event file truncated",
                    f"truncated mid-record: the record at byte {pos} needs {12 + length + 4} bytes, "
                    f"only {left} are left (file size {size}); {len(records)} record(s) read "
                    "before it",
                )
            )
            break
        body = data[pos + 12 : pos + 12 + length]
        if masked_crc32c(body) != struct.unpack("<I", data[end - 4 : end])[0]:
            problems.append(
                Problem(
                    path,
                    "corrupt record skipped",
                    f"the record at byte {pos} ({length} bytes) fails its data CRC: skipped, "
                    "reading went on with the next one",
                )
            )
        else:
            records.append(body)
        pos = end
    return records, problems


def read_events(path: Path) -> tuple[list[event_pb2.Event], list[Problem]]:
    records, problems = read_records(path)
    events = []
    for i, record in enumerate(records):
        try:
            events.append(event_pb2.Event.FromString(record))
        except DecodeError:
            problems.append(Problem(path, "corrupt record skipped", f"record {i} is not an Event: skipped"))
    return events, problems


def _scalar(value, scalar_tags: set) -> float | None:
    """A summary value's number: TF1-style simple_value or a TF2-style scalar tensor (scalars plugin)."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind == "tensor":
        if value.metadata.plugin_data.plugin_name == "scalars":  # TF2 writers set it on a tag's first value only
            scalar_tags.add(value.tag)
        if value.tag in scalar_tags:
            array = tensor_util.make_ndarray(value.tensor)
            if array.size == 1 and array.dtype.kind in "fiub":
                return float(array.item())
    return None


def read_event_dir(event_dir: Path) -> tuple[dict[str, list[tuple[int, float]]], dict[str, bytes], list[Problem]]:
    """({tag: [(step, value)] in file order}, the hparams plugin's {tag: content}, problems) of the event files
    in `event_dir`, read in name order, as TensorBoard does."""
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    hparams_content, scalar_tags, problems = {}, set(), []
    for path in sorted(p for p in Path(event_dir).iterdir() if p.is_file() and "tfevents" in p.name):
        events, file_problems = read_events(path)
        problems += file_problems
        for event in events:
            if event.HasField("session_log") and event.session_log.status == event_pb2.SessionLog.START:
                for tag in series:  # a restart: what was logged after its step is orphaned (as in TensorBoard)
                    series[tag] = [(s, v) for s, v in series[tag] if s < event.step]
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    hparams_content[value.tag] = value.metadata.plugin_data.content
                    continue
                number = _scalar(value, scalar_tags)
                if number is not None:
                    series[value.tag].append((event.step, number))
    return series, hparams_content, problems


def _parse_hparams(content: dict) -> tuple[dict, list[str]]:
    params, metrics = {}, []
    if "_hparams_/session_start_info" in content:
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        for key, value in start.session_start_info.hparams.items():
            ranked = RANKED.match(key)
            name = ranked.group(1) if ranked else key
            if name not in NOT_SETTINGS:
                params[name] = getattr(value, value.WhichOneof("kind")) if value.WhichOneof("kind") else None
    if "_hparams_/experiment" in content:
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
        metrics = [info.name.tag for info in experiment.metric_infos]
    return params, metrics


def read_hparams(source) -> tuple[dict, list[str]]:
    """(hyperparameters, metric tags) of the HPARAMS summary: what TensorBoard's HPARAMS tab shows.

    `source`: an EventAccumulator (after Reload) or the hparams plugin's {tag: content bytes}."""
    if isinstance(source, dict):
        return _parse_hparams(source)
    try:
        content = source.PluginTagToContent("hparams")
    except KeyError:  # no HPARAMS summary (e.g. a run that crashed before its end)
        content = {}
    return _parse_hparams(content)
