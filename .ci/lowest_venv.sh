#!/usr/bin/env bash
# A venv with every direct dependency of .[dev] at the LOWEST version pyproject.toml allows, to check that the
# declared lower bounds are true:  bash .ci/lowest_venv.sh [VENV]   (default .venv-lowest; PYTHON=python3.11 ...)
# then: VENV/bin/python -m pytest -m "not slow"
#
# How: the lower bound of each direct requirement becomes a pin `name==bound` in a constraints file, and one plain
# `pip install -c pins -e ".[dev]"` installs the project. Transitive dependencies resolve to their newest
# compatible release (what uv calls --resolution lowest-direct). Plain pip rather than uv: no second tool, and pip
# keeps its configuration, so the torch build installed first (the CPU wheel where pip is configured to find it)
# stays: `torch==2.13.0` accepts the installed 2.13.0+cpu, where uv would re-fetch torch from PyPI.
# A requirement without a lower bound (or whose bound it excludes) is an error: "lowest" must mean something.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${1:-.venv-lowest}
PY=${PYTHON:-python3}
# One torch everywhere: the version constraints.txt pins (not the lowest of pyproject's range, which would be a
# ~3 GB CUDA download on Linux and is not what anyone runs).
TORCH=$(sed -n 's/^torch==\([^ #]*\).*/\1/p' constraints.txt)
[ -n "$TORCH" ] || { echo "error: constraints.txt pins no torch==X; add the line torch==<version>" >&2; exit 2; }

# This machine's pip config names local package folders that may not exist; drop that noise, keep the rest.
pip() { "$VENV/bin/python" -m pip "$@" 2> >(grep -v "is ignored: it is neither" >&2); }

rm -rf "$VENV"
"$PY" -m venv "$VENV"
# To read pyproject.toml and its requirement strings (packaging ends up here anyway: lightning needs it).
pip install -q packaging 'tomli; python_version < "3.11"'

pins="$VENV/lowest-pins.txt"
"$VENV/bin/python" - "$TORCH" >"$pins" <<'EOF'
import sys
try:
    import tomllib
except ImportError:
    import tomli as tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

torch = sys.argv[1]
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
me = canonicalize_name(project["name"])
extras = project.get("optional-dependencies", {})
reqs, todo, done = list(project["dependencies"]), ["dev"], set()
while todo:  # follow self-references such as "overfit[sweep]"
    extra = todo.pop()
    done.add(extra)
    for line in extras[extra]:
        req = Requirement(line)
        if canonicalize_name(req.name) == me:
            todo += [e for e in req.extras if e not in done]
        else:
            reqs.append(line)
bad = []
for line in reqs:
    req = Requirement(line)
    if req.marker and not req.marker.evaluate():
        continue
    if canonicalize_name(req.name) == "torch":
        pin = torch
    else:
        lows = [s.version for s in req.specifier if s.operator in (">=", "==", "~=")]
        pin = max(lows, key=Version) if lows else None  # the binding one of >=1,>=1.2
    if canonicalize_name(req.name) == "torch" and not req.specifier.contains(pin, prereleases=True):
        bad.append(f"error: pyproject.toml's {line!r} excludes constraints.txt's torch=={torch}: make them agree")
    elif pin is None or not req.specifier.contains(pin, prereleases=True):
        bad.append(f"error: pyproject.toml's {line!r} has no lower bound it allows: write it as {req.name}>=X")
    else:
        print(f"{req.name}=={pin}")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(2)
EOF

pip install -q "torch==$TORCH"  # first, alone: whatever build pip's configuration finds (here the CPU wheel) stays
pip install -q -c "$pins" -e ".[dev]"
pip check
echo "lowest direct dependencies in $VENV (Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')):"
"$VENV/bin/python" - "$pins" <<'EOF'
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    name = line.split("==")[0]
    print(f"  {name:24} {version(name)}")
EOF
