"""Checkpoints: written so that a kill never leaves half of one, checked before use, and resumed as the same run.

    io.py            `AtomicFileCheckpointIO` (conf/trainer/default.yaml): a temp file, then an atomic rename
    checks.py        any Lightning checkpoint: readable with weights_only, its structure, weights that fit, finite,
                     and the training state a resume needs (`check_resumable`)
    classifier.py    the IMDB classifier's: vocabulary, preprocessing; its LightningModule for eval.py, its plain
                     network for predict.py (`load_classifier`: no Lightning imported)
    resume.py        where `ckpt_path=last` resumes from: the newest intact checkpoint, never a finished epoch lost
    run_config.py    each checkpoint records the run's config (`Recorder`); a resume restores it and refuses a
                     contradicting override in one line

Every refusal is one line (an OverfitError) naming the file and the fix, raised before any long work.
"""
