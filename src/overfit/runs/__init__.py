"""A run's machinery: what `train()` and `eval.py` do around Lightning's fit and test, one concern per module.

    checks.py         the config checked before any data work (wrong types, devices, batch sizes): one line each
    threads.py        how many intra-op threads a run gets (`cpu_threads: auto`), and the CPU's name
    dirs.py           run directories no two runs share (the `unique_dir` and `run_name` resolvers)
    train_log.py      <run dir>/train.log: what the terminal showed, Lightning's lines and warnings included
    console.py        Lightning's lines nobody here can act on, filtered out; the model summary (layers with
                      weights); ModelCheckpoint quiet on a resume into its own dir
    numbers.py        how numbers are written for people (accuracies in %, losses to 3 significant digits, ...)
    progress.py       the progress bar (Lightning's own, redrawn every few steps)
    summary.py        metrics.json and the one-screen summary at a run's end
    tensorboard.py    what a run leaves in TensorBoard: its curves' layout, its HPARAMS session
    csv_logger.py     logger=csv: Lightning's CSVLogger into the run dir, keeping a resumed run's earlier rows
    ddp.py            DDP ranks inside a Hydra multirun run this job, not the whole sweep again
    slurm.py          a `hydra/launcher=slurm` sweep checked against the cluster before anything is submitted

Where a run's checkpoints and resume live: overfit.checkpoints. The search: overfit.search.
"""
