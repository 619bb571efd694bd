"""hydra/launcher=slurm against a real SLURM (slurm-wlm): a request no node of the partition can run is refused
before submission, in one line that names the setting, what sinfo reports and the fix; a request that fits runs.

Needs a one-node SLURM on this host (`.ci/slurm_up.sh` sets one up, as CI does); elsewhere these tests skip,
saying why. They never submit to a cluster of other machines."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import uuid

import pytest
from omegaconf import OmegaConf
from test_compare import run_py, sweep_overrides

from overfit.errors import OverfitError
from overfit.runs.slurm import Node, check_request, gpu_count, read_partitions


def scontrol_node() -> dict[str, str]:
    """This host's node as `scontrol show node` reports it (a second reading, beside the check's sinfo)."""
    line = subprocess.run(
        ["scontrol", "show", "node", "--oneliner", socket.gethostname().split(".")[0]],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return dict(re.findall(r"(\w+)=(\S*)", line))


def _local_slurm() -> str | None:
    """Why the SLURM tests cannot run here, or None."""
    if shutil.which("sinfo") is None:
        return "sinfo not found: no SLURM on this machine (.ci/slurm_up.sh installs a one-node one, as root)"
    try:
        partitions, default = read_partitions()
    except OverfitError as err:
        return f"SLURM does not answer here: {err}"
    host = socket.gethostname().split(".")[0]
    if default is None or [n.name for n in partitions[default]] != [host]:
        return f"the default partition is not a one-node SLURM on {host} (.ci/slurm_up.sh): no test jobs sent to it"
    return None


WHY_NOT = _local_slurm()
needs_slurm = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")


@pytest.fixture(scope="module")
def node():
    node = scontrol_node()
    return {"cpus": int(node["CPUTot"]), "mem": int(node["RealMemory"]), "gpus": gpu_count(node.get("Gres", ""))}


def fits(**changes) -> dict:
    """A request this node can run (1 CPU, 1 GB, no GPU), with `changes`."""
    return {"partition": None, "gpus_per_node": 0, "tasks_per_node": 1, "cpus_per_task": 1, "mem_gb": 1, **changes}


def refusal(launcher: dict) -> str:
    with pytest.raises(OverfitError) as err:
        check_request(OmegaConf.create(launcher), *read_partitions())
    return str(err.value)


@needs_slurm
def test_a_request_that_fits_passes():
    partitions, default = read_partitions()
    assert check_request(OmegaConf.create(fits()), partitions, default) == default


@needs_slurm
@pytest.mark.parametrize(
    "changes,named",
    [
        (lambda n: {"gpus_per_node": n["gpus"] + 1}, "gpus_per_node"),
        (lambda n: {"gpus_per_node": None, "gpus_per_task": 1, "tasks_per_node": n["gpus"] + 1}, "gpus_per_task"),
        (lambda n: {"gpus_per_node": None, "gres": f"gpu:{n['gpus'] + 1}"}, "gres"),
        (lambda n: {"cpus_per_task": n["cpus"] + 1}, "cpus_per_task"),
        (lambda n: {"cpus_per_task": n["cpus"], "tasks_per_node": 2}, "cpus_per_task"),
        (lambda n: {"cpus_per_task": None, "tasks_per_node": n["cpus"] + 1}, "tasks_per_node"),
        (lambda n: {"mem_gb": n["mem"] // 1024 + 1}, "mem_gb"),
        (lambda n: {"mem_gb": None, "mem_per_cpu": f"{n['mem'] + 1}M"}, "mem_per_cpu"),
    ],
)
def test_more_than_any_node_has_is_one_line_with_the_fix(node, changes, named):
    request = fits(**changes(node))
    line = refusal(request)
    assert "\n" not in line and line.startswith(f"hydra.launcher.{named}="), line
    # what SLURM reports for the partition, as scontrol also reads the node
    assert f"of {node['cpus']} CPUs, {node['mem']} MB RealMemory" in line, line
    # the fix it names makes the request runnable
    fix = re.search(r"pass hydra\.launcher\.(\w+)=(\S+)", line)
    assert fix and fix.group(1) == named, line
    value = None if fix.group(2) == "null" else fix.group(2)
    request[named] = int(value) if value and value.isdigit() else value
    check_request(OmegaConf.create(request), *read_partitions())


@needs_slurm
def test_no_gpu_partition_says_gpus_per_node_0(node):
    if node["gpus"]:
        pytest.skip("this node has GPUs")
    line = refusal(fits(gpus_per_node=1))
    assert "no node of partition" in line and "has a GPU" in line and "hydra.launcher.gpus_per_node=0" in line


@needs_slurm
def test_unknown_partition_lists_what_sinfo_has():
    partitions, default = read_partitions()
    line = refusal(fits(partition="no_such_partition"))
    assert line.startswith("hydra.launcher.partition=no_such_partition: SLURM has no such partition"), line
    assert f"{default}*" in line and f"hydra.launcher.partition={default}" in line


@needs_slurm
def test_more_nodes_than_the_partition_has():
    partitions, default = read_partitions()
    line = refusal(fits(nodes=len(partitions[default]) + 1))
    assert line.startswith(
        f"hydra.launcher.nodes={len(partitions[default]) + 1}: partition {default} has 1 node (sinfo"
    )
    assert f"hydra.launcher.nodes={len(partitions[default])} or less" in line


def jobs_named(name: str) -> list[str]:
    """Every job of that name SLURM still knows (finished ones too: squeue keeps them for MinJobAge, 300 s)."""
    out = subprocess.run(["squeue", "--states=all", "--noheader", "--name", name, "--format=%i %T"], **TEXT)
    return out.stdout.split()


TEXT = {"capture_output": True, "text": True, "timeout": 30}


@pytest.fixture
def job_name():
    name = f"overfit_test_{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["scancel", "--name", name], **TEXT)  # nothing left queued if a test failed or timed out


@pytest.mark.slow
@needs_slurm
def test_the_default_gpu_request_is_refused_before_submission(tiny_archive, tmp_path, node, job_name):
    """slurm.yaml as shipped (gpus_per_node: 1) on a CPU partition: one line, exit 2, no job, no sweep dir."""
    if node["gpus"]:
        pytest.skip("this node has GPUs")
    args = ["train.py", "-m", "hydra/launcher=slurm", f"hydra.job.name={job_name}"]
    result = run_py(*args, *sweep_overrides(tiny_archive, tmp_path), f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: hydra.launcher.gpus_per_node=1: no node of partition")
    assert "hydra.launcher.gpus_per_node=0" in lines[0]
    assert not (tmp_path / "sweep").exists() and not (tmp_path / "logs").exists()  # no .submitit, nothing on disk
    assert jobs_named(job_name) == []


@pytest.mark.slow
@needs_slurm
def test_a_sweep_that_fits_runs_to_the_end_on_slurm(tiny_archive, tmp_path, job_name):
    sweep = tmp_path / "sweep"
    request = ["hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]
    request += ["hydra.launcher.timeout_min=5"]  # SLURM ends a job that hangs
    result = run_py(
        "train.py",
        "-m",
        "hydra/launcher=slurm",
        *request,
        f"hydra.job.name={job_name}",
        "model=baseline,small",
        *sweep_overrides(tiny_archive, tmp_path),
        f"hydra.sweep.dir={sweep}",
        timeout=180,  # without slurmdbd, submitit learns of a job's end only from its result file
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for run in ("0_baseline_s0", "1_small_s0"):
        assert (sweep / run / "metrics.json").is_file()
    # SLURM ran them: a job array of two, both completed, their logs in the sweep's .submitit folder. submitit
    # returns once it reads each job's result file, which the job writes just before its process exits: SLURM may
    # still list the job as RUNNING (or COMPLETING) for a moment, so wait for it to settle (seen in CI, 2026-12-07).
    deadline = time.monotonic() + 60
    while {"RUNNING", "COMPLETING"} & set(states := jobs_named(job_name)) and time.monotonic() < deadline:
        time.sleep(1)
    assert states.count("COMPLETED") == 2, states
    assert len(list((sweep / ".submitit").rglob("*_log.out"))) == 2


# Without a cluster: what sinfo prints on clusters unlike this one (GPUs of several types, no default partition,
# nodes that differ), as data; the SLURM tests above read the real sinfo.


def test_gpu_count_reads_sinfos_gres_forms():
    assert gpu_count("(null)") == 0
    assert gpu_count("gpu:2") == 2
    assert gpu_count("gpu:a100:4(S:0-1)") == 4
    assert gpu_count("gpu:a100:4(S:0,1),gpu:v100:2,mps:400") == 6
    assert gpu_count("shard:8") == 0


CLUSTER = {
    "cpu": [Node(f"c{i}", 64, 256000, "(null)") for i in range(4)],
    "gpu": [Node("g0", 32, 512000, "gpu:a100:8(S:0-1)"), Node("g1", 128, 1024000, "gpu:a100:2")],
}


def test_no_default_partition_asks_for_one():
    with pytest.raises(
        OverfitError, match=r"partition=null: this cluster has no default partition \(sinfo lists cpu, gpu\)"
    ):
        check_request(OmegaConf.create(fits()), CLUSTER, None)


def test_no_node_with_all_of_it_at_once_and_too_few_such_nodes():
    request = OmegaConf.create(fits(partition="gpu", gpus_per_node=4, cpus_per_task=64))  # g0: the GPUs, g1: the CPUs
    with pytest.raises(OverfitError, match="no node of partition gpu has 4 GPUs and 64 CPUs and 1024 MB at once"):
        check_request(request, CLUSTER, "cpu")
    request = OmegaConf.create(fits(partition="gpu", gpus_per_node=4, nodes=2))
    with pytest.raises(
        OverfitError, match=r"nodes=2: partition gpu has 1 node with 4 GPUs .*; pass hydra.launcher.nodes=1"
    ):
        check_request(request, CLUSTER, "cpu")
    assert check_request(OmegaConf.create(fits(nodes=4)), CLUSTER, "cpu") == "cpu"


def test_a_memory_size_that_is_not_one():
    with pytest.raises(OverfitError, match="mem_per_cpu=lots: not a memory size"):
        check_request(OmegaConf.create(fits(mem_gb=None, mem_per_cpu="lots")), CLUSTER, "cpu")
