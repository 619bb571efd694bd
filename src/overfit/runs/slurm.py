"""Check a `hydra/launcher=slurm` sweep against the cluster before anything is submitted.

SLURM takes some impossible requests and refuses others late: `--gpus-per-node=1` on a partition without GPUs
ends in submitit's ~50-line FailedJobError ("Invalid generic resource (gres) specification"), and more CPUs or
memory than any node has can leave the jobs pending forever (reason PartitionConfig) while the launcher waits.
`CheckPartition` (a Hydra callback that conf/hydra/launcher/slurm.yaml registers) reads the partition's nodes
with `sinfo` when the multirun starts, before the sweeper builds a job, and refuses such a request in one line
naming the setting, what was asked, what the partition offers, and the fix. It checks what each node *has*
(not what is free now): a request that fits a busy node only waits. Switch it off with ~hydra.callbacks.slurm_check.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from overfit.errors import OverfitError

L = "hydra.launcher."
# One line per node and partition: partition (the default marked *), node, CPUs, RealMemory in MB, GRES.
SINFO = ["sinfo", "--all", "--noheader", "--Node", "--format=%P|%N|%c|%m|%G"]
_GPU = re.compile(r"(?:^|,)gpu(?::[^:,(]+)?:(\d+)")  # gpu:4, gpu:a100:4(S:0-1); not gpu:a100 with no count


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    mem_mb: int
    gres: str

    @property
    def gpus(self) -> int:
        return gpu_count(self.gres)


def gpu_count(gres: str) -> int:
    """GPUs in a GRES string as sinfo prints it (`(null)`, `gpu:2`, `gpu:a100:4(S:0-1),gpu:v100:2`)."""
    return sum(int(n) for n in _GPU.findall(gres))


def read_partitions() -> tuple[dict[str, list[Node]], str | None]:
    """{partition: its nodes} and the default partition, as `sinfo` reports them; one line if sinfo cannot."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        raise OverfitError(
            "hydra/launcher=slurm: SLURM's sinfo/sbatch are not on this machine's PATH; run the sweep on a login "
            "node of the cluster, or run its jobs here with hydra/launcher=submitit_local"
        )
    try:
        done = subprocess.run(SINFO, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise OverfitError("hydra/launcher=slurm: sinfo did not answer in 60 s; is slurmctld up?") from None
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split()) or f"exit code {done.returncode}"
        raise OverfitError(f"hydra/launcher=slurm: sinfo failed ({said}); is slurmctld up?")
    partitions: dict[str, list[Node]] = {}
    default = None
    for line in done.stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 5:
            continue
        part, name, cpus, mem, gres = fields
        if part.endswith("*"):
            part = default = part[:-1]
        # %c and %m may carry a "+" when sinfo aggregates; per node (--Node) they are plain numbers.
        partitions.setdefault(part, []).append(Node(name, int(cpus.rstrip("+")), int(mem.rstrip("+")), gres))
    return partitions, default


def describe(part: str, nodes: list[Node]) -> str:
    """What sinfo says a partition has, nodes of one kind counted together: `debug: 1 node (vm) 2 CPUs ...`."""
    kinds = Counter((n.cpus, n.mem_mb, n.gres) for n in nodes)
    parts = []
    for (cpus, mem, gres), count in kinds.most_common():
        names = [n.name for n in nodes if (n.cpus, n.mem_mb, n.gres) == (cpus, mem, gres)]
        shown = ",".join(names[:3]) + (",..." if len(names) > 3 else "")
        gpus = f"gres {gres}" if gpu_count(gres) else "no GPUs"
        parts.append(f"{count} node{'s' * (count > 1)} ({shown}) of {cpus} CPUs, {mem} MB RealMemory, {gpus}")
    return f"sinfo: partition {part} has " + "; ".join(parts)


def _mem_mb(text: str | int, setting: str) -> int:
    """A SLURM memory size (`4000`, `4G`, `512M`; megabytes by default) in MB."""
    found = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)B?\s*", str(text), re.IGNORECASE)
    if not found:
        raise OverfitError(f"{L}{setting}={text}: not a memory size; give MB or a size with a unit, e.g. 4000 or 4G")
    scale = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2}[found.group(2).upper()]
    return int(int(found.group(1)) * scale)


@dataclass
class Need:
    """What a node must have (`amount` GPUs, CPUs or MB), the settings that ask it (as typed), the setting to lower
    and how much of `amount` one unit of that setting asks (`per`: mem_gb=1 is 1024 MB)."""

    amount: int
    asked: str
    setting: str
    per: int = 1


def per_node_request(launcher) -> dict[str, Need]:
    """What each node of a job must have (gpus, cpus, mem in MB), from the submitit launcher's settings."""
    get = launcher.get
    tasks = int(get("tasks_per_node") or 1)
    needs: dict[str, Need] = {}
    if get("gpus_per_node"):
        needs["gpus"] = Need(int(get("gpus_per_node")), f"{L}gpus_per_node={get('gpus_per_node')}", "gpus_per_node")
    elif get("gpus_per_task"):
        each = int(get("gpus_per_task"))
        needs["gpus"] = Need(each * tasks, f"{L}gpus_per_task={each} x tasks_per_node={tasks}", "gpus_per_task", tasks)
    elif get("gres") and gpu_count(str(get("gres"))):
        needs["gpus"] = Need(gpu_count(str(get("gres"))), f"{L}gres={get('gres')}", "gres")
    gpus = needs["gpus"].amount if "gpus" in needs else 0
    if get("cpus_per_task"):
        each = int(get("cpus_per_task"))
        needs["cpus"] = Need(each * tasks, f"{L}cpus_per_task={each} x tasks_per_node={tasks}", "cpus_per_task", tasks)
    elif get("cpus_per_gpu") and gpus:
        each = int(get("cpus_per_gpu"))
        needs["cpus"] = Need(each * gpus, f"{L}cpus_per_gpu={each} x {gpus} GPUs", "cpus_per_gpu", gpus)
    else:  # SLURM's default: one CPU per task
        needs["cpus"] = Need(tasks, f"{L}tasks_per_node={tasks} (one CPU each)", "tasks_per_node")
    cpus = needs["cpus"].amount
    if get("mem_gb"):
        needs["mem"] = Need(int(get("mem_gb")) * 1024, f"{L}mem_gb={get('mem_gb')}", "mem_gb", 1024)
    elif get("mem_per_cpu"):
        each = get("mem_per_cpu")
        needs["mem"] = Need(
            _mem_mb(each, "mem_per_cpu") * cpus, f"{L}mem_per_cpu={each} x {cpus} CPUs", "mem_per_cpu", cpus
        )
    elif get("mem_per_gpu") and gpus:
        each = get("mem_per_gpu")
        needs["mem"] = Need(
            _mem_mb(each, "mem_per_gpu") * gpus, f"{L}mem_per_gpu={each} x {gpus} GPUs", "mem_per_gpu", gpus
        )
    return needs


UNIT = {"gpus": "GPUs", "cpus": "CPUs", "mem": "MB"}


def _fix(kind: str, need: Need, most: int) -> str:
    """The override that fits the largest node of the partition."""
    if kind == "gpus" and most == 0:
        off = f"{L}gpus_per_node=0" if need.setting == "gpus_per_node" else f"{L}{need.setting}=null"
        return f"pass {off} (a CPU partition) or name a partition with GPUs ({L}partition=...)"
    if need.setting == "gres":
        return f"pass {L}gres=gpu:{most} or less"
    unit = " (MB)" if need.setting in ("mem_per_cpu", "mem_per_gpu") else ""
    return f"pass {L}{need.setting}={most // need.per} or less{unit}"


def check_request(launcher, partitions: dict[str, list[Node]], default: str | None) -> str:
    """The partition the job goes to, or OverfitError: a request that no node of it can ever satisfy."""
    names = ", ".join(f"{p}{'*' * (p == default)}" for p in partitions) or "none"
    part = launcher.get("partition")
    if part is None:
        if default is None:
            raise OverfitError(
                f"{L}partition=null: this cluster has no default partition (sinfo lists {names}); "
                f"name one, e.g. {L}partition={next(iter(partitions), '<name>')}"
            )
        part = default
    elif str(part) not in partitions:
        raise OverfitError(
            f"{L}partition={part}: SLURM has no such partition (sinfo lists {names}; * = the default); "
            f"pass one of them, e.g. {L}partition={default or next(iter(partitions), '<name>')}"
        )
    part = str(part)
    nodes = partitions[part]
    needs = per_node_request(launcher)
    have = {"gpus": lambda n: n.gpus, "cpus": lambda n: n.cpus, "mem": lambda n: n.mem_mb}
    for kind, need in needs.items():
        most = max(have[kind](n) for n in nodes)
        if need.amount > most:
            plain = need.setting == "gpus_per_node"  # the setting is the amount: no sum to show
            asked = need.asked if plain else f"{need.asked} = {need.amount} {UNIT[kind]} per node"
            offer = (
                f"no node of partition {part} has a GPU"
                if most == 0
                else f"the most a node of {part} has is {most} {UNIT[kind]}"
            )
            raise OverfitError(f"{asked}: {offer} ({describe(part, nodes)}); {_fix(kind, need, most)}")
    fit = [n for n in nodes if all(need.amount <= have[kind](n) for kind, need in needs.items())]
    asked = " and ".join(f"{need.amount} {UNIT[kind]}" for kind, need in needs.items())
    if not fit:
        raise OverfitError(
            f"{'; '.join(n.asked for n in needs.values())}: no node of partition {part} has {asked} at once "
            f"({describe(part, nodes)}); ask less of one of them, or name another partition"
        )
    want = int(launcher.get("nodes") or 1)
    if want > len(fit):
        whose = "node" + "s" * (len(fit) != 1) + ("" if len(fit) == len(nodes) else f" with {asked}")
        raise OverfitError(
            f"{L}nodes={want}: partition {part} has {len(fit)} {whose} ({describe(part, nodes)}); "
            f"pass {L}nodes={len(fit)} or less"
        )
    return part


class CheckPartition(Callback):
    """Hydra callback (conf/hydra/launcher/slurm.yaml): refuse, before submission, what the partition cannot run."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            partitions, default = read_partitions()
            check_request(config.hydra.launcher, partitions, default)
        except OverfitError as err:
            # Hydra turns an exception raised in a callback into a warning and goes on to submit (hydra 1.3,
            # Callbacks._notify catches Exception, not SystemExit): so the refusal ends the process here, as
            # overfit.cli.run_hydra_main would, in one line with exit code 2. Nothing is on disk yet.
            print(f"error: {err}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
