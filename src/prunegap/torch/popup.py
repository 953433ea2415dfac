"""Edge-popup: score-based search for strong tickets on data (Ramanujan et al., CVPR 2020).

The random network is frozen: a bias-free two-layer ReLU network with d
inputs, n hidden units and C outputs, g(x) = out(relu(x (U*M)^T) (V*m)),
drawn from prunegap's seeded unit stream.  Edge-popup learns one real
*score* per prunable element and, in every forward pass, keeps the top-k
elements by |score| (the paradigm's family, :mod:`.patterns`); the gradient
of the loss with respect to the 0/1 mask is passed straight through to the
scores.  The weights never change: what is learnt is only which to keep.

=========  =========================  ===========================================
paradigm   scores                     mask in each forward pass
=========  =========================  ===========================================
weight     one per weight, both       top-k of each layer, k = kept_count(R, layer size)
           layers
neuron     one per hidden unit        top-k units, k = kept_count(R, n)
block      one per complete block     top-k blocks, k = kept_count(R, floor(n / B));
           of B units                 the units of an incomplete last block are pruned
nm         one per hidden weight      top-N of each group of M in a row, then the
                                      top-k of those, k = kept_count(R, n d); a
                                      unit's output weights follow its row
=========  =========================  ===========================================

So the masks keep exactly k elements of each kind (``kept_count`` rounds
half up and keeps at least one); weight and unit densities are reported
separately (:func:`.patterns.densities`).

The random network
------------------
Unit i is (u_i, v_i) with u_i in R^d and v_i in R^C, drawn i.i.d. from the
setting's law (``uniform``: U[-1, 1]; ``gaussian``: N(0, 1)) from the seed's
unit stream in chunks of 64 units; for C = 1 this is exactly prunegap's
:class:`~prunegap.UnitStream`, so a single-output ticket lives on the same
network as :func:`prunegap.draw_instance` (and the certified solvers).

``scale`` (explicit, recorded in result.json) multiplies each layer by one
constant before training and the ticket stores the scaled weights (the ones
the network computes with): ``none`` keeps the stream's values; ``kaiming``
is Ramanujan et al.'s scaled Kaiming: layer l is scaled so that its kept
weights have standard deviation gain_l / sqrt(fan_in_l * rho_l), gain =
sqrt(2) for the hidden layer and 1 for the output layer, rho_l the density of
the layer's incoming weights (R, or 1 for a layer the paradigm does not prune:
the rows of neuron/block, the output weights of nm).  Being bias-free, the
network is positively homogeneous in each layer, so the constants never
change which class wins, only the conditioning of the search; ``auto`` is
``kaiming`` for digits and ``none`` for the teacher (so the teacher's ticket
is prunegap's own instance).

Randomness and devices
----------------------
Weights come from numpy streams; the scores' initial values and the batch
order come from ``torch.Generator``\\ s seeded from the prunegap seed (stream
purposes ``SCORES`` and ``BATCHES`` of :mod:`prunegap.streams`), always on the
CPU, so runs are reproducible and the same on every device up to float
rounding.  No global RNG is touched.
Final metrics are computed by numpy in float64 from the ticket itself.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import streams
from .._validation import check_choice, check_int, check_positive_float, check_seed
from .._version import __version__
from ..exceptions import InvalidArgument
from ..io import write_json, write_ticket
from ..masks import Masks
# Multi-output units must be drawn exactly as UnitStream draws single-output ones.
from ..network import SAMPLERS, ChunkedUnits, Instance
from ..patterns import PATTERNS, check_density, densities, element_counts, kept_count, n_blocks, nm_capacity, parse_nm
from ..setting import INITS, MAX_DIMENSION, OUTPUTS, Setting
from ..streams import stream_generator
from . import require_torch
from .data import DATASETS, Dataset, load
from .tickets import MULTI_TICKET, TICKET, Network, network_forward, write_multi_ticket

__all__ = ["PopupConfig", "PopupResult", "popup", "draw_network", "layer_scales", "SCALES", "OPTIMIZERS", "DTYPES"]

SCALES: tuple[str, ...] = ("auto", "none", "kaiming")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
DTYPES: tuple[str, ...] = ("float64", "float32")
PURPOSE_SCORES = streams.SCORES  # initial scores (torch.Generator seed)
PURPOSE_BATCHES = streams.BATCHES  # batch order (torch.Generator seed)
_STD = {"uniform": 1.0 / math.sqrt(3.0), "gaussian": 1.0}  # standard deviation of each init law


@dataclass(frozen=True)
class PopupConfig:
    """Everything that decides one edge-popup run (saved whole in result.json)."""

    dataset: str = "digits"  # "digits" (classification) or "teacher" (regression)
    paradigm: str = "weight"  # "weight", "neuron", "nm" or "block"
    width: int = 1024  # hidden units n
    density: float = 0.5  # fraction of the paradigm's prunable elements kept, in (0, 1]
    seed: int = 0  # the random network, the teacher's target, scores and batches
    nm: str | None = None  # "N:M" for paradigm nm
    block: int | None = None  # block size B for paradigm block
    init: str = "uniform"  # law of the random weights: "uniform" = U[-1, 1], "gaussian" = N(0, 1)
    scale: str = "auto"  # "none", "kaiming" or "auto" (kaiming on digits, none on teacher); resolved on creation
    output: str | None = None  # output activation; None: "linear" (logits) on digits, "relu" on teacher
    d: int | None = None  # input dimension: the teacher's (default 2); digits is 64
    teacher_width: int = 1  # units k of the planted teacher; 1 = prunegap's single neuron
    n_train: int = 1024  # teacher training points
    n_test: int = 1024  # teacher test points
    test_fraction: float = 0.2  # digits: fraction of each class held out
    data_seed: int = 0  # the digits split / the teacher's input points
    epochs: int = 50  # passes over the training set
    batch_size: int = 128  # examples per step
    optimizer: str = "sgd"  # "sgd" (momentum, Ramanujan et al.) or "adam"
    lr: float = 0.1  # initial learning rate (cosine decay to 0 over the epochs)
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # on the scores
    device: str = "cpu"  # "cpu", "cuda" or "cuda:N"
    dtype: str = "float64"  # training precision; the ticket and its metrics are float64 regardless

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass normalisation
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("paradigm", self.paradigm, PATTERNS)
        set_("width", check_int("width", self.width, minimum=1))
        set_("density", check_density(self.density))
        set_("seed", check_seed(self.seed))
        check_choice("init", self.init, INITS)
        check_choice("scale", self.scale, SCALES)
        if self.scale == "auto":
            set_("scale", "kaiming" if self.dataset == "digits" else "none")
        if self.output is None:
            set_("output", "linear" if self.dataset == "digits" else "relu")
        check_choice("output", self.output, OUTPUTS)
        if self.dataset == "digits":
            if self.d not in (None, 64):
                raise InvalidArgument(f"d must be 64 (or left out) for dataset 'digits', got {self.d}")
            set_("d", 64)
        else:
            set_("d", check_int("d", 2 if self.d is None else self.d, minimum=1, maximum=MAX_DIMENSION))
        set_("teacher_width", check_int("teacher_width", self.teacher_width, minimum=1))
        set_("n_train", check_int("n_train", self.n_train, minimum=1))
        set_("n_test", check_int("n_test", self.n_test, minimum=1))
        tf = check_positive_float("test_fraction", self.test_fraction)
        if tf >= 1.0:
            raise InvalidArgument(f"test_fraction must be a number in (0, 1), got {self.test_fraction}")
        set_("test_fraction", tf)
        set_("data_seed", check_seed(self.data_seed, "data_seed"))
        set_("epochs", check_int("epochs", self.epochs, minimum=1))
        set_("batch_size", check_int("batch_size", self.batch_size, minimum=1))
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        set_("lr", check_positive_float("lr", self.lr))
        set_("momentum", check_positive_float("momentum", self.momentum, allow_zero=True, maximum=1.0))
        set_("weight_decay", check_positive_float("weight_decay", self.weight_decay, allow_zero=True))
        check_choice("dtype", self.dtype, DTYPES)
        if not isinstance(self.device, str) or not (self.device == "cpu" or self.device == "cuda"
                                                    or (self.device.startswith("cuda:") and self.device[5:].isdigit())):
            raise InvalidArgument(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        # the pattern's own parameters: given exactly when the paradigm uses them
        if self.paradigm == "nm":
            if self.nm is None:
                raise InvalidArgument("paradigm 'nm' needs N:M (--nm N:M, such as 2:4)")
            n, m = parse_nm(self.nm)
            set_("nm", f"{n}:{m}")
            cap = self.width * nm_capacity(self.d, (n, m))
            k = kept_count(self.density, self.width * self.d)
            if k > cap:
                raise InvalidArgument(
                    f"density {self.density:g} keeps {k} of the {self.width * self.d} hidden weights, but N:M = {n}:{m} "
                    f"keeps at most {cap} (density <= {cap / (self.width * self.d):.6g})")
        elif self.nm is not None:
            raise InvalidArgument(f"nm applies to paradigm 'nm' only, got nm={self.nm!r} with paradigm {self.paradigm!r}")
        if self.paradigm == "block":
            if self.block is None:
                raise InvalidArgument("paradigm 'block' needs a block size (--block B)")
            set_("block", check_int("block", self.block, minimum=1, maximum=self.width))
        elif self.block is not None:
            raise InvalidArgument(f"block applies to paradigm 'block' only, got block={self.block} with paradigm {self.paradigm!r}")

    @property
    def outputs(self) -> int:
        return 10 if self.dataset == "digits" else 1

    @property
    def nm_pair(self) -> tuple[int, int] | None:
        return parse_nm(self.nm) if self.nm is not None else None

    def pattern(self) -> dict[str, Any]:
        """The keyword arguments of :func:`.patterns.satisfies` for this paradigm."""
        return {"nm": self.nm_pair, "block": self.block}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> "PopupConfig":
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PopupConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def dataset_options(self) -> dict[str, Any]:
        if self.dataset == "digits":
            return {"test_fraction": self.test_fraction, "data_seed": self.data_seed}
        return {"d": self.d, "seed": self.seed, "n_train": self.n_train, "n_test": self.n_test,
                "teacher_width": self.teacher_width, "data_seed": self.data_seed, "init": self.init}


# the frozen random network ----------------------------------------------------
def draw_network(d: int, width: int, outputs: int, seed: int, init: str = "uniform") -> tuple[np.ndarray, np.ndarray]:
    """U (width x d) and V (width x outputs) from the seed's unit stream (C = 1: prunegap's UnitStream)."""
    rng = stream_generator(check_seed(seed), streams.UNITS)
    sample = SAMPLERS[check_choice("init", init, INITS)]
    # the same chunked draws as UnitStream.take, so prefixes nest
    units = ChunkedUnits(rng, sample, d + outputs).take(check_int("width", width, minimum=0))
    return units[:, :d].copy(), units[:, d:].copy()


def layer_scales(config: PopupConfig) -> tuple[float, float]:
    """The constants (hidden, output) that ``scale`` multiplies the layers by."""
    if config.scale == "none":
        return 1.0, 1.0
    r = config.density
    rho_hidden = r if config.paradigm in ("weight", "nm") else 1.0
    rho_output = r if config.paradigm in ("weight", "neuron", "block") else 1.0
    std = _STD[config.init]
    return (math.sqrt(2.0 / (config.d * rho_hidden)) / std, math.sqrt(1.0 / (config.width * rho_output)) / std)


# masks from scores (torch) -----------------------------------------------------
def _torch() -> Any:
    return require_torch()


def _topk_mask(scores: Any, k: int) -> Any:
    torch = _torch()
    flat = scores.reshape(-1)
    mask = torch.zeros_like(flat)
    mask[torch.topk(flat, k, sorted=False).indices] = 1.0
    return mask.reshape(scores.shape)


def _nm_mask(scores: Any, n: int, m: int, k: int) -> Any:
    """Top-n of each group of m in every row (padded with -inf), then the top-k of those."""
    torch = _torch()
    rows, d = scores.shape
    pad = (-d) % m
    padded = torch.nn.functional.pad(scores, (0, pad), value=-math.inf).reshape(rows, -1, m)
    cand = torch.zeros_like(padded).scatter_(2, torch.topk(padded, min(n, m), dim=2).indices, 1.0)
    cand = cand.reshape(rows, -1)[:, :d].bool()
    return _topk_mask(torch.where(cand, scores, torch.full_like(scores, -math.inf)), k)


def _straight_through() -> Any:
    torch = _torch()

    class StraightThrough(torch.autograd.Function):
        """Forward: the 0/1 mask; backward: the mask's gradient, unchanged, to the scores."""

        @staticmethod
        def forward(ctx: Any, scores: Any, mask: Any) -> Any:  # noqa: ARG004 - scores only receive the gradient
            return mask.clone()

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple[Any, None]:
            return grad, None

    return StraightThrough


class _Scores:
    """The learnable scores of one paradigm and the masks they select."""

    def __init__(self, config: PopupConfig, generator: Any, dtype: Any, device: Any) -> None:
        torch = _torch()
        self.config = config
        n, d, C = config.width, config.d, config.outputs
        self.counts = element_counts(config.paradigm, n, d, C, **config.pattern())
        self.k = {name: kept_count(config.density, total) for name, total in self.counts.items()}
        shapes = {"hidden": (n, d), "output": (n, C), "units": (n,), "blocks": (n_blocks(n, config.block or 1),)}
        fan = {"hidden": d, "output": n, "units": d, "blocks": d}

        def init(name: str) -> Any:
            # kaiming_uniform(a=sqrt(5)) as Ramanujan et al., drawn on the CPU from our generator
            bound = 1.0 / math.sqrt(fan[name])
            u = torch.rand(shapes[name], generator=generator, dtype=torch.float64)
            return ((2.0 * u - 1.0) * bound).to(dtype=dtype, device=device).requires_grad_(True)

        self.params = {name: init(name) for name in self.counts}
        self._st = _straight_through()

    def masks(self) -> tuple[Any, Any]:
        """Hidden (n x d) and output (n x C) masks; gradients flow straight through to the scores."""
        torch = _torch()
        c, p, k = self.config, self.params, self.k
        n, d, C = c.width, c.d, c.outputs
        if c.paradigm == "weight":
            out = []
            for name in ("hidden", "output"):
                s = p[name].abs()
                with torch.no_grad():
                    m = _topk_mask(s, k[name])
                out.append(self._st.apply(s, m))
            return out[0], out[1]
        if c.paradigm == "nm":
            s = p["hidden"].abs()
            nn_, mm = c.nm_pair  # type: ignore[misc]
            with torch.no_grad():
                m = _nm_mask(s, nn_, mm, k["hidden"])
                alive = m.any(dim=1, keepdim=True).to(m.dtype).expand(n, C)
            return self._st.apply(s, m), alive
        name = "units" if c.paradigm == "neuron" else "blocks"
        s = p[name].abs()
        with torch.no_grad():
            m = _topk_mask(s, k[name])
        unit = self._st.apply(s, m)
        if c.paradigm == "block":
            # the units of an incomplete last block are pruned (prunegap.patterns: the block rule)
            unit = unit.repeat_interleave(c.block)
            if unit.shape[0] < n:
                unit = torch.cat([unit, unit.new_zeros(n - unit.shape[0])])
        return unit[:, None].expand(n, d), unit[:, None].expand(n, C)


# the search ----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PopupResult:
    """One edge-popup run: the ticket, its metrics, the configuration that made it."""

    config: PopupConfig
    network: Network  # the scaled random network and the ticket's masks
    metrics: dict[str, Any]  # accuracies or losses, densities, timings
    history: list[float]  # mean training loss of each epoch

    @property
    def masks(self) -> Masks:
        """prunegap's Masks of the ticket (single output only)."""
        return self.network.masks()

    def instance(self) -> Instance:
        """The single-neuron instance of a teacher ticket (k = 1): target and network as the ticket stores them."""
        c, net = self.config, self.network
        if net.w is None or net.outputs != 1:
            raise InvalidArgument("only a single-output teacher ticket with teacher_width 1 is a prunegap instance")
        return Instance(Setting(d=c.d, init=c.init, output=c.output), c.seed, net.w, net.U, net.V[:, 0])

    @property
    def ticket_file(self) -> str:
        return TICKET if (self.network.outputs == 1 and self.network.w is not None) else MULTI_TICKET

    def to_dict(self) -> dict[str, Any]:
        torch = _torch()
        return {**self.config.to_dict(), "outputs": self.config.outputs, **self.metrics,
                "ticket": self.ticket_file, "history": list(self.history), "version": __version__,
                "torch_version": torch.__version__}

    def save(self, out: str | Path) -> Path:
        """Write the ticket (``ticket.npz`` when single-output with a target, else ``multi_ticket.npz``) and result.json."""
        out = Path(out)
        net = self.network
        if self.ticket_file == TICKET:
            write_ticket(out / TICKET, net.w, net.U, net.V[:, 0], self.masks)
        else:
            write_multi_ticket(out / MULTI_TICKET, net.U, net.V, net.hidden_mask, net.output_mask)
        write_json(out / "result.json", self.to_dict())
        return out


def _device(name: str) -> Any:
    torch = _torch()
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidArgument(f"device {name!r} is not available here (torch.cuda.is_available() is False); use --device cpu")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise InvalidArgument(f"device {name!r} is not available here ({torch.cuda.device_count()} CUDA device(s))")
    return torch.device(name)


def _generator(seed: int, purpose: int) -> Any:
    torch = _torch()
    g = torch.Generator(device="cpu")
    g.manual_seed(int(stream_generator(seed, purpose).integers(2**63 - 1)))
    return g


def _softmax_xent(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(y.shape[0]), y]))


def evaluate_network(net: Network, data: Dataset) -> dict[str, Any]:
    """Float64 metrics of a ticket on a data set (numpy; the same on every device)."""
    out: dict[str, Any] = {}
    for part, X, y in (("train", data.X_train, data.y_train), ("test", data.X_test, data.y_test)):
        pred = network_forward(net, X)
        if data.task == "classification":
            out[f"{part}_accuracy"] = float(np.mean(pred.argmax(axis=1) == y))
            out[f"{part}_loss"] = _softmax_xent(pred, y)
        else:
            err = pred[:, 0] - y
            out[f"{part}_loss"] = float(np.mean(err**2))
            out[f"{part}_max_error"] = float(np.max(np.abs(err)))
    return out


def popup(config: PopupConfig | None = None, *, data: Dataset | None = None,
          on_epoch: Callable[[int, float], None] | None = None, **options: Any) -> PopupResult:
    """Run edge-popup for one configuration (``PopupConfig(**options)`` when not given).

    ``data`` may pass the data set already loaded (it must be the config's);
    ``on_epoch(epoch, mean_loss)`` is called after every epoch.
    """
    torch = _torch()
    if config is None:
        config = PopupConfig(**options)
    elif options:
        config = config.replace(**options)
    device = _device(config.device)
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    t_start = time.perf_counter()
    data = data if data is not None else load(config.dataset, **config.dataset_options())
    if data.d != config.d or data.outputs != config.outputs:
        raise InvalidArgument(f"data set has d={data.d}, outputs={data.outputs}; the config wants d={config.d}, outputs={config.outputs}")
    U, V = draw_network(config.d, config.width, config.outputs, config.seed, config.init)
    c_hidden, c_output = layer_scales(config)
    U, V = U * c_hidden, V * c_output

    Ut = torch.as_tensor(U, dtype=dtype, device=device)  # (n, d), frozen
    Vt = torch.as_tensor(V, dtype=dtype, device=device)  # (n, C), frozen
    X = torch.as_tensor(data.X_train, dtype=dtype, device=device)  # (m, d)
    if data.task == "classification":
        Y = torch.as_tensor(data.y_train, dtype=torch.int64, device=device)
        loss_fn: Callable[[Any, Any], Any] = torch.nn.functional.cross_entropy
    else:
        Y = torch.as_tensor(data.y_train, dtype=dtype, device=device)[:, None]
        loss_fn = torch.nn.functional.mse_loss
    relu_out = config.output == "relu"
    scores = _Scores(config, _generator(config.seed, PURPOSE_SCORES), dtype, device)
    params = list(scores.params.values())
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    batches = _generator(config.seed, PURPOSE_BATCHES)

    def model(xb: Any) -> Any:
        mh, mo = scores.masks()
        y = torch.relu(xb @ (Ut * mh).T) @ (Vt * mo)  # (b, C)
        return torch.relu(y) if relu_out else y

    history: list[float] = []
    epoch_seconds: list[float] = []
    m = X.shape[0]
    for epoch in range(config.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(m, generator=batches).to(device)
        total = 0.0
        for start in range(0, m, config.batch_size):
            idx = order[start:start + config.batch_size]
            loss = loss_fn(model(X[idx]), Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.shape[0]
        sched.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        epoch_seconds.append(time.perf_counter() - t0)
        history.append(total / m)
        if on_epoch is not None:
            on_epoch(epoch, history[-1])

    with torch.no_grad():
        mh, mo = scores.masks()
    hidden_mask = mh.detach().cpu().numpy().astype(np.uint8)
    output_mask = mo.detach().cpu().numpy().astype(np.uint8)
    net = Network(U, V, hidden_mask, output_mask, config.output, data.w)
    metrics = evaluate_network(net, data)
    metrics.update({f"layer_scale_{k}": v for k, v in zip(("hidden", "output"), (c_hidden, c_output))})
    metrics.update(densities(hidden_mask, output_mask))
    metrics.update({
        "elements": scores.counts,
        "kept_elements": scores.k,
        "seconds": time.perf_counter() - t_start,
        "train_seconds": float(sum(epoch_seconds)),
        "seconds_per_epoch": float(np.median(epoch_seconds)),
        "n_train": int(data.X_train.shape[0]),
        "n_test": int(data.X_test.shape[0]),
    })
    return PopupResult(config, net, metrics, history)
