"""The few places where overfit needs a dependency's private names, because no public API does the job.

One module per dependency (hydra.py, lightning.py). Each reach says why no public API does it and names the
upstream issue; tests/test_compat.py fails naming the dependency and its version when a reach breaks. Everything
else in overfit uses public APIs only (tests/test_compat.py checks src/, scripts/ and benchmarks/ for that).
Basics layer (tests/test_layout.py): imports the dependencies only, so that any layer may use it.
"""
