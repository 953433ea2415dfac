"""The ``export`` and ``popup`` commands (typer command functions).

Registered on the main app in :mod:`prunegap.cli`; PyTorch loads only when a
command runs, so ``prunegap --help`` never needs it.  Bad input raises
:class:`~prunegap.InvalidArgument` (one line on stderr, exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .._options import choice_option
from .._validation import check_choice, check_output, output_errors
from ..io import json_ready
from ..patterns import PATTERNS
from ..setting import INITS, OUTPUTS
from . import require_torch
from .data import DATASETS
from .popup import DTYPES, OPTIMIZERS, SCALES, PopupConfig
from .popup import popup as edge_popup
from .tickets import MULTI_TICKET, TICKET, find_ticket, read_network

__all__ = ["export", "popup"]

#: The formats of ``export`` (prunegap.torch.export.FORMATS, named here so that --help needs no PyTorch).
EXPORT_FORMATS: tuple[str, ...] = ("torch", "npz", "safetensors")


def export(
    source: Path = typer.Argument(..., help="A result folder (with ticket.npz or multi_ticket.npz) or a ticket file."),
    fmt: Optional[str] = choice_option(
        None, "--format", EXPORT_FORMATS,
        "torch (.pt/.pth, torch.nn.utils.prune convention) | npz | safetensors; default: what the suffix of --out says "
        "(a --format that contradicts it is refused)"),
    out: Path = typer.Option(..., "--out", help="The file to write (.pt, .pth, .npz or .safetensors)."),
    output: Optional[str] = choice_option(None, "--output", OUTPUTS, "relu | linear (default: the folder's result.json, else relu)."),
) -> None:
    """Export a ticket for PyTorch (weight_orig + weight_mask) or as plain arrays; load with prunegap.torch.load_ticket."""
    if fmt is not None:
        check_choice("--format", fmt, EXPORT_FORMATS)
    ticket = find_ticket(source)
    check_output(out, inputs=(ticket, ticket.with_name("result.json")))  # the ticket and the output it reads
    net = read_network(source, output)  # validates the ticket before torch loads
    from .export import _format_of, export_ticket  # lazy: the module imports PyTorch

    fmt = _format_of(Path(out), fmt)  # the suffix's format, or the refusal of one that contradicts it
    with output_errors(out):
        path = export_ticket(net, out, fmt)
    typer.echo(f"wrote {path} ({fmt}: width {net.width}, d {net.d}, outputs {net.outputs}, output {net.output})", err=True)


def popup(
    dataset: str = choice_option(..., "--dataset", DATASETS, "digits (scikit-learn's bundled digits) | teacher (planted ReLU teacher, regression)"),
    paradigm: str = choice_option(..., "--paradigm", PATTERNS, "weight | neuron | nm | block"),
    width: int = typer.Option(..., "--width", help="Hidden units n of the random network."),
    density: float = typer.Option(..., "--density", help="Fraction of the paradigm's prunable elements kept, in (0, 1]."),
    seed: int = typer.Option(..., "--seed", help="Seed of the random network, scores and batches (integer >= 0)."),
    out: Path = typer.Option(..., "--out", help="Folder for result.json and the ticket."),
    nm: Optional[str] = typer.Option(None, "--nm", help="N:M for --paradigm nm, e.g. 2:4."),
    block: Optional[int] = typer.Option(None, "--block", help="Block size B for --paradigm block."),
    epochs: int = typer.Option(50, "--epochs", help="Passes over the training set."),
    batch_size: int = typer.Option(128, "--batch-size", help="Examples per step."),
    optimizer: str = choice_option("sgd", "--optimizer", OPTIMIZERS, "sgd (momentum) | adam"),
    lr: float = typer.Option(0.1, "--lr", help="Initial learning rate (cosine decay)."),
    momentum: float = typer.Option(0.9, "--momentum", help="SGD momentum."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay", help="Weight decay on the scores."),
    init: str = choice_option("uniform", "--init", INITS, "uniform (U[-1,1]) | gaussian (N(0,1)) random weights"),
    scale: str = choice_option("auto", "--scale", SCALES, "none | kaiming (scaled Kaiming) | auto (kaiming on digits, none on teacher)"),
    output: Optional[str] = choice_option(None, "--output", OUTPUTS, "relu | linear output (default: linear on digits, relu on teacher)"),
    d: Optional[int] = typer.Option(None, "--d", help="Teacher: input dimension (default 2)."),
    teacher_width: int = typer.Option(1, "--teacher-width", help="Teacher: its units (1 = prunegap's single neuron)."),
    n_train: int = typer.Option(1024, "--n-train", help="Teacher: training points."),
    n_test: int = typer.Option(1024, "--n-test", help="Teacher: test points."),
    data_seed: int = typer.Option(0, "--data-seed", help="Seed of the digits split / the teacher's points."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N"),
    dtype: str = choice_option("float64", "--dtype", DTYPES, "float64 | float32 training precision (metrics are float64)."),
    as_json: bool = typer.Option(False, "--json", help="Also print result.json to stdout."),
) -> None:
    """Edge-popup: search a ticket of a frozen random network by learned scores (Ramanujan et al. 2020)."""
    config = PopupConfig(
        dataset=dataset, paradigm=paradigm, width=width, density=density, seed=seed, nm=nm, block=block,
        init=init, scale=scale, output=output, d=d, teacher_width=teacher_width, n_train=n_train, n_test=n_test,
        data_seed=data_seed, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, momentum=momentum,
        weight_decay=weight_decay, device=device, dtype=dtype,
    )  # every value is checked here, before torch loads
    check_output(out, folder=True, files=(TICKET, MULTI_TICKET, "result.json"))
    require_torch()
    result = edge_popup(config)
    with output_errors(out, folder=True):
        result.save(out)
    data = result.to_dict()
    if as_json:
        typer.echo(json.dumps(json_ready(data), indent=2))
    else:
        m = result.metrics
        score = (f"train acc {m['train_accuracy']:.4f}  test acc {m['test_accuracy']:.4f}" if "train_accuracy" in m
                 else f"train MSE {m['train_loss']:.4g}  test MSE {m['test_loss']:.4g}  test max |err| {m['test_max_error']:.4g}")
        typer.echo(
            f"popup {config.dataset} {config.paradigm}  width={config.width}  density={config.density:g}  seed={config.seed}: "
            f"{score}  weight density {m['weight_density']:.4f}  unit density {m['unit_density']:.4f}  "
            f"({m['seconds_per_epoch']:.3f} s/epoch, {m['seconds']:.2f} s)")
    typer.echo(f"wrote {out / result.ticket_file} and {out / 'result.json'}", err=True)
