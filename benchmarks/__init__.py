"""The lab's benchmarks and the GPU check, apart from the user's tools in scripts/. One entry point:

    python -m benchmarks [options] [overrides]        # speed and memory against plain PyTorch (benchmark.py)
    python -m benchmarks threads [options]            # cpu_threads=auto against one thread (threads.py)
    python -m benchmarks factorization [options]      # the factorization's Lightning fit against a plain loop
    python -m benchmarks startup [--repeats N]        # --help, a config mistake, --cfg job: seconds to answer
    python -m benchmarks calibration [overrides]      # a fit with and without the calibration metrics
    python -m benchmarks gpu-check --archive ...      # the prepared check for a GPU machine (gpu_check.py)

What each module holds:
  __main__       the entry point: picks one of the six above
  benchmark      the parent of the main benchmark: runs each measurement in a fresh child process
                 (`python -m benchmarks --child NAME`), prints one table of figures, ratio targets and results
  table          one child measured (wall, peak RSS, its JSON line), the machine and load lines, the table,
                 and the ratio rows (a floor slower than what it bounds is a broken measurement, not a ratio)
  loops          children: data (import + prepare), plain (train.py's model in a plain PyTorch loop, with or
                 without a run's duties, under train()'s thread policy), dense (the notebook's way)
  overhead       children: epochs (Lightning's epochs against the plain loop's, in one process), plainsweep
                 (the floor under the six-variant sweep), phases (where a sweep's time goes)
  sweep          the parent side of --sweep and --epoch-ratio: the sweep and its floor interleaved, their rows
  threads        cpu_threads=auto against one thread, idle and with a core kept busy
  factorization  Lightning against a plain loop on the factorization (Iris, rank 2)
  startup        the time a command takes to answer --help, a config mistake or --cfg job (issue 23: 1.5 s)
  calibration    what torchmetrics' AUROC, ECE and Brier cost a `baseline` fit (issue 22: <= 3%), side by side
  gpu_check      the GPU check: gpu tests, the six variants on GPU and CPU, determinism, resume on a CPU
"""
