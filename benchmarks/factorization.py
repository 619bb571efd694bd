"""How much does Lightning cost on top of a plain PyTorch loop? Iris, rank 2, SGD lr 0.01, 1000 full-batch steps.

    .venv/bin/python -m benchmarks factorization                 # 3 repeats, best time of each
    .venv/bin/python -m benchmarks factorization --steps 2000 --repeats 5 model.rank=1

The Lightning side is built from the real config (`experiment=factorization`: same trainer flags, callbacks,
TensorBoard logger and checkpoint as `python train.py experiment=factorization`), written to a temporary dir.
Both sides start from the same seed, hence the same U and V, and must end on the same loss.
"""

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from overfit.runs.threads import torch_threads
from overfit.train import instantiate_all

REPO = Path(__file__).resolve().parents[1]


def plain_loop(A: torch.Tensor, rank: int, lr: float, steps: int, seed: int) -> tuple[float, float]:
    """The reference: same init order as the module (U then V), loss before each update."""
    torch.manual_seed(seed)
    U = torch.rand(A.shape[0], rank, requires_grad=True)
    V = torch.rand(rank, A.shape[1], requires_grad=True)
    opt = torch.optim.SGD([U, V], lr=lr)
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(U @ V, A, reduction="sum")
        loss.backward()
        opt.step()
    return time.perf_counter() - start, loss.item()


def lightning_fit(cfg) -> tuple[float, float, float]:
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    model = instantiate(cfg.model, **dm.model_kwargs)
    torch.set_num_threads(torch_threads(cfg.cpu_threads, model))  # as overfit.train.train does
    trainer = instantiate(cfg.trainer, callbacks=instantiate_all(cfg.callbacks), logger=instantiate_all(cfg.logger))
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    return time.perf_counter() - start, float(trainer.callback_metrics["train/loss"]), model.optimal_loss


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="alternate both sides this many times, keep the best")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. model.rank=1")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "experiment=factorization",
                f"trainer.max_steps={args.steps}",
                f"paths.log_dir={tmp}",
                f"paths.output_dir={tmp}/run",
                "trainer.enable_progress_bar=false",
                *args.overrides,
            ],
        )
        dm = instantiate(cfg.data)
        dm.setup("fit")
        A = dm.matrix
        threads = torch_threads(cfg.cpu_threads, instantiate(cfg.model, **dm.model_kwargs))  # what train() gives it
        plain, fit = [], []
        for _ in range(args.repeats):
            torch.set_num_threads(threads)
            plain.append(plain_loop(A, cfg.model.rank, cfg.model.optimizer.lr, args.steps, cfg.seed))
            fit.append(lightning_fit(cfg))
    (p_s, p_loss), (f_s, f_loss, optimum) = min(plain), min(fit)
    print(
        f"{args.steps} steps, {A.shape[0]}x{A.shape[1]} matrix, rank {cfg.model.rank}, lr {cfg.model.optimizer.lr}, "
        f"{torch.get_num_threads()} torch threads (cpu_threads), best of {args.repeats}"
    )
    print(f"plain loop     {p_s:6.3f} s  ({1e3 * p_s / args.steps:.3f} ms/step)  final loss {p_loss:.6f}")
    print(f"Lightning fit  {f_s:6.3f} s  ({1e3 * f_s / args.steps:.3f} ms/step)  final loss {f_loss:.6f}")
    print(
        f"optimum {optimum:.6f} (Eckart-Young), |loss difference| {abs(p_loss - f_loss):.2e}, "
        f"Lightning / plain = {f_s / p_s:.1f}x"
    )
    if abs(p_loss - f_loss) > 1e-4:
        raise SystemExit("the two final losses disagree")
