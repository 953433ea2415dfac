"""Tickets as torch modules: prune's convention, float64 forward == prunegap's, file roundtrips."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
prune = pytest.importorskip("torch.nn.utils.prune")

from prunegap.cli import main  # noqa: E402
from prunegap.errors import forward  # noqa: E402
from prunegap.exceptions import InvalidArgument  # noqa: E402
from prunegap.io import read_ticket, write_json, write_ticket  # noqa: E402
from prunegap.masks import Masks  # noqa: E402
from prunegap.network import draw_instance  # noqa: E402
from prunegap.setting import Setting  # noqa: E402
from prunegap.torch.export import TicketNet, export_ticket, load_ticket, ticket_module  # noqa: E402
from prunegap.torch.patterns import satisfies  # noqa: E402
from prunegap.torch.tickets import Network, network_forward, read_network, write_multi_ticket  # noqa: E402

PATTERNS = {"weight": {}, "neuron": {}, "nm": {"nm": (2, 3)}, "block": {"block": 4}}


def random_masks(pattern: str, n: int, d: int, rng: np.random.Generator, outputs: int = 1):
    """A random mask pair of the pattern's family (output mask (n, outputs))."""
    if pattern == "weight":
        return rng.integers(0, 2, (n, d)), rng.integers(0, 2, (n, outputs))
    if pattern in ("neuron", "block"):
        if pattern == "neuron":
            unit = rng.integers(0, 2, n)
        else:
            B = PATTERNS["block"]["block"]
            unit = np.zeros(n, int)  # an incomplete last block is pruned
            unit[: n // B * B] = np.repeat(rng.integers(0, 2, n // B), B)
        return np.repeat(unit[:, None], d, 1), np.repeat(unit[:, None], outputs, 1)
    N, M = PATTERNS["nm"]["nm"]
    h = np.zeros((n, d), int)
    for i in range(n):
        for g in range(0, d, M):
            size = min(M, d - g)
            keep = rng.choice(size, size=rng.integers(0, min(N, size) + 1), replace=False)
            h[i, g + keep] = 1
    alive = h.any(axis=1).astype(int)
    return h, np.repeat(alive[:, None], outputs, 1)


def make_ticket(tmp_path, pattern, output, d=5, n=23, seed=0):
    rng = np.random.default_rng(seed)
    inst = draw_instance(Setting(d=d, output=output), seed, n)
    h, o = random_masks(pattern, n, d, rng)
    assert satisfies(pattern, h, o, **PATTERNS[pattern])
    masks = Masks(h, o[:, 0])
    write_ticket(tmp_path / "ticket.npz", inst.w, inst.U, inst.v, masks)
    write_json(tmp_path / "result.json", {"output": output})
    return inst, masks


@pytest.mark.parametrize("output", ["relu", "linear"])
@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_forward_equals_prunegap_forward(tmp_path, pattern, output):
    for seed in range(3):
        inst, masks = make_ticket(tmp_path, pattern, output, seed=seed)
        module = ticket_module(tmp_path)
        assert module.output == output
        X = np.random.default_rng(100 + seed).standard_normal((257, inst.d)) * 3
        A, b = masks.apply(inst.U, inst.v)
        expected = forward(A, b, X, output)
        with torch.no_grad():
            got = module(torch.from_numpy(X))
        assert got.dtype == torch.float64 and got.shape == (257, 1)
        np.testing.assert_allclose(got[:, 0].numpy(), expected, rtol=1e-12, atol=1e-12)


def test_prune_convention(tmp_path):
    inst, masks = make_ticket(tmp_path, "weight", "relu")
    m = ticket_module(tmp_path)
    assert {n for n, _ in m.named_parameters()} == {"hidden.weight_orig", "out.weight_orig"}
    assert {"hidden.weight_mask", "out.weight_mask", "target"} <= {n for n, _ in m.named_buffers()}
    assert prune.is_pruned(m)
    for layer, orig, mask in ((m.hidden, inst.U, masks.hidden_mask), (m.out, inst.v[None, :], masks.output_mask[None, :])):
        assert "weight" not in dict(layer.named_parameters())
        assert layer.weight_orig.dtype == torch.float64
        assert np.array_equal(layer.weight_orig.detach().numpy(), orig)  # float64 values, bit for bit
        assert np.array_equal(layer.weight_mask.numpy(), mask)
        assert set(np.unique(layer.weight_mask.numpy())) <= {0.0, 1.0}
        assert torch.equal(layer.weight, layer.weight_orig * layer.weight_mask)
        assert any(isinstance(h, prune.BasePruningMethod) for h in layer._forward_pre_hooks.values())
    # masks only ever remove: prune.remove makes the pruning permanent, with the same function
    X = torch.randn(10, inst.d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = m(X)
    prune.remove(m.hidden, "weight")
    prune.remove(m.out, "weight")
    assert torch.allclose(m(X), y, rtol=0, atol=0)
    assert np.array_equal(m.target.numpy(), inst.w)


def test_no_global_rng_and_no_torch_on_plain_import():
    before = torch.random.get_rng_state().clone()
    TicketNet(4, 100, 3)
    assert torch.equal(before, torch.random.get_rng_state())
    code = "import sys, prunegap, prunegap.cli, prunegap.torch, prunegap.torch.patterns; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("suffix", [".pt", ".npz", ".safetensors"])
def test_load_roundtrip(tmp_path, suffix):
    inst, masks = make_ticket(tmp_path, "nm", "linear")
    m = ticket_module(tmp_path)
    path = export_ticket(tmp_path, tmp_path / f"t{suffix}")
    back = load_ticket(path)
    assert isinstance(back, TicketNet) and back.output == "linear"
    a, b = m.state_dict(), back.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype == torch.float64 and torch.equal(a[k], b[k]), k
    X = torch.from_numpy(np.random.default_rng(1).standard_normal((50, inst.d)))
    assert torch.equal(m(X), back(X))
    assert back.masks().kept_weights == masks.kept_weights


def test_plain_array_files_for_non_torch_users(tmp_path):
    inst, masks = make_ticket(tmp_path, "block", "relu")
    export_ticket(tmp_path, tmp_path / "t.npz")
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:
        assert np.array_equal(z["hidden.weight_orig"], inst.U)
        assert z["hidden.weight_mask"].dtype == np.uint8 and np.array_equal(z["hidden.weight_mask"], masks.hidden_mask)
        assert np.array_equal(z["out.weight_orig"], inst.v[None, :])
        assert np.array_equal(z["target"], inst.w)
        assert '"output": "relu"' in str(z["__metadata__"])
    from safetensors import safe_open
    from safetensors.numpy import load_file

    export_ticket(tmp_path, tmp_path / "t.safetensors")
    arrays = load_file(str(tmp_path / "t.safetensors"))
    assert np.array_equal(arrays["out.weight_mask"], masks.output_mask[None, :])
    with safe_open(str(tmp_path / "t.safetensors"), framework="numpy") as f:
        assert f.metadata()["output"] == "relu" and f.metadata()["format"] == "prunegap-ticket"


def test_pt_file_loads_with_weights_only(tmp_path):
    make_ticket(tmp_path, "weight", "relu")
    export_ticket(tmp_path, tmp_path / "t.pt")
    payload = torch.load(tmp_path / "t.pt", weights_only=True)
    assert payload["format"] == "prunegap-ticket"
    assert set(payload["state_dict"]) == {"target", "hidden.weight_orig", "hidden.weight_mask", "out.weight_orig", "out.weight_mask"}


def test_multi_output_ticket(tmp_path):
    rng = np.random.default_rng(3)
    n, d, C = 17, 6, 4
    U, V = rng.standard_normal((n, d)), rng.standard_normal((n, C))
    h, o = random_masks("weight", n, d, rng, outputs=C)
    write_multi_ticket(tmp_path / "multi_ticket.npz", U, V, h, o)
    write_json(tmp_path / "result.json", {"output": "linear"})
    net = read_network(tmp_path)
    assert net.outputs == C and net.w is None
    m = ticket_module(tmp_path)
    X = rng.standard_normal((40, d))
    with torch.no_grad():
        np.testing.assert_allclose(m(torch.from_numpy(X)).numpy(), network_forward(net, X), rtol=1e-12, atol=1e-12)
    back = load_ticket(export_ticket(m, tmp_path / "m.safetensors"))
    assert back.outputs == C and back.target is None
    assert np.array_equal(back.network().V, V) and np.array_equal(back.network().output_mask, o)
    with pytest.raises(InvalidArgument):
        back.masks()  # prunegap Masks are single-output


def test_network_roundtrip_and_masks(tmp_path):
    inst, masks = make_ticket(tmp_path, "neuron", "relu")
    net = ticket_module(tmp_path).network()
    assert isinstance(net, Network)
    assert np.array_equal(net.masks().hidden_mask, masks.hidden_mask)
    t = read_ticket(tmp_path / "ticket.npz")
    assert np.array_equal(net.U, t.U) and np.array_equal(net.V[:, 0], t.v)


def test_bad_files(tmp_path):
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_ticket(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(InvalidArgument, match="not a readable"):
        load_ticket(tmp_path / "junk.pt")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(InvalidArgument, match="not an exported prunegap ticket"):
        load_ticket(tmp_path / "other.npz")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(InvalidArgument, match="cannot tell the format"):
        load_ticket(tmp_path / "x.txt")


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export(tmp_path, capsys):
    inst, masks = make_ticket(tmp_path / "r", "weight", "linear")
    code, out, err = run(["export", str(tmp_path / "r"), "--format", "torch", "--out", str(tmp_path / "t.pt")], capsys)
    assert code == 0, err
    m = load_ticket(tmp_path / "t.pt")
    assert m.output == "linear" and m.masks().kept_weights == masks.kept_weights
    code, _, err = run(["export", str(tmp_path / "r"), "--format", "safetensors", "--out", str(tmp_path / "t.safetensors"),
                        "--output", "relu"], capsys)
    assert code == 0, err
    assert load_ticket(tmp_path / "t.safetensors").output == "relu"


@pytest.mark.parametrize("args", [
    ["export", "NOPE", "--format", "torch", "--out", "x.pt"],
    ["export", "DIR", "--format", "torch", "--out", "x.npz"],
    ["export", "DIR", "--format", "onnx", "--out", "x.onnx"],
    ["export", "DIR", "--format", "npz", "--out", "x.npz", "--output", "tanh"],
])
def test_cli_export_bad_input(tmp_path, capsys, args):
    make_ticket(tmp_path / "r", "weight", "relu")
    args = [str(tmp_path / "r") if a == "DIR" else (str(tmp_path / a) if a.startswith("x.") or a == "NOPE" else a) for a in args]
    code, out, err = run(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("prunegap: error:")
