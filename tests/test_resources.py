"""Resources bounded by the input (issue 19, item 4; the options of item 3): linear unit drawing
that never changes a drawn value, widths over the memory budget refused up front, one limit on
d everywhere, bounded config files, .npz files checked from their headers before any data is
read, and every study option validated before any trial runs."""

import io
import os
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from prunegap import api
from prunegap.cli import main
from prunegap.exceptions import InvalidArgument, MemoryBudgetExceeded
from prunegap.io import read_ticket, write_ticket
from prunegap.masks import Masks
from prunegap.network import SAMPLERS, UNIT_CHUNK, ChunkedUnits, UnitStream, draw_instance, network_bytes
from prunegap.setting import MAX_DIMENSION, Setting
from prunegap.solvers.base import KNOWN_SOLVER_OPTIONS, METHODS, _register_all, method_options
from prunegap.streams import UNITS, stream_generator
from prunegap.sweep import load_config
from prunegap.sweep.config.defaults import MAX_CONFIG_BYTES
from prunegap.targets import load_target_network


def one_line_exit_2(argv, capsys, needle):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err
    return err


# --- drawing the units: linear, and the same values as ever ------------------------------------

def old_take(setting: Setting, seed: int, width: int, columns: int | None = None):
    """UnitStream.take as it was (append chunk by chunk): the reference for the values."""
    columns = setting.d + 1 if columns is None else columns
    rng = stream_generator(seed, UNITS)
    units = np.empty((0, columns))
    while units.shape[0] < width:
        units = np.concatenate([units, SAMPLERS[setting.init](rng, (UNIT_CHUNK, columns))])
    return units[:width]


@pytest.mark.parametrize("init", ["uniform", "gaussian"])
@pytest.mark.parametrize("d", [1, 2, 7])
def test_the_chunked_stream_draws_exactly_the_old_units(init, d):
    setting = Setting(d=d, init=init)
    for seed in (0, 3, 2**40 + 1):
        stream = UnitStream(setting, seed)
        # in any order, past chunk ends and back: the prefix of every width is the same
        for width in (0, 1, 63, 64, 65, 1000, 129, 5000, 64, 4097):
            U, v = stream.take(width)
            ref = old_take(setting, seed, width)
            assert U.tobytes() == ref[:, :-1].tobytes() and v.tobytes() == ref[:, -1].tobytes(), (seed, width)
        # a fresh stream asked for one wide width at once draws the same
        U, v = UnitStream(setting, seed).take(3000)
        assert U.tobytes() == old_take(setting, seed, 3000)[:, :-1].tobytes()


def test_multi_output_units_draw_as_the_stream_does():
    from prunegap.torch.popup import draw_network  # numpy only: no torch needed to draw

    for width in (1, 64, 200):
        U, V = draw_network(3, width, 10, 5)
        ref = old_take(Setting(d=3), 5, width, columns=13)
        assert U.tobytes() == ref[:, :3].tobytes() and V.tobytes() == ref[:, 3:].tobytes()


def test_units_are_handed_out_as_copies_and_the_buffer_is_read_only():
    stream = UnitStream(Setting(d=2), 0)
    U, _ = stream.take(10)
    U[:] = 7.0
    assert not np.any(stream.take(10)[0] == 7.0)
    view = ChunkedUnits(stream_generator(0, UNITS), SAMPLERS["uniform"], 3).take(5)
    with pytest.raises(ValueError):
        view[0, 0] = 1.0


def test_drawing_units_is_linear():
    # appending chunk by chunk copied every unit once per chunk (54 s at a million units): the buffer
    # now grows geometrically, so asking for one chunk more each time reallocates O(log n) times
    units = ChunkedUnits(stream_generator(0, UNITS), SAMPLERS["uniform"], 2)
    buffers = set()
    for rows in range(64, 64 * 2048 + 1, 64):
        units.take(rows)
        buffers.add(id(units._buffer))
    assert len(buffers) <= 13  # 2048 chunks: 12 doublings, plus the first buffer
    U, _ = UnitStream(Setting(d=1), 0).take(1_000_000)
    assert U.shape == (1_000_000, 1)


# --- widths over the memory budget: refused up front -----------------------------------------

def test_a_width_over_the_memory_budget_is_refused_before_anything_is_drawn(monkeypatch):
    def no_drawing(self, rows):
        raise AssertionError("units were drawn")

    monkeypatch.setattr(ChunkedUnits, "take", no_drawing)
    with pytest.raises(MemoryBudgetExceeded) as exc:
        api.solve(Setting(d=2), width=10_000_000_000, seed=0, eps=0.1, paradigm="weight")
    msg = str(exc.value)
    need = network_bytes(2, 10_000_000_000)
    assert "width 10,000,000,000" in msg and f"{need:,} bytes" in msg and "2,147,483,648 bytes" in msg
    assert exc.value.needed_bytes == need and exc.value.budget_bytes == 2 * 1024**3
    with pytest.raises(MemoryBudgetExceeded, match="over the memory budget of 100,000 bytes"):
        draw_instance(Setting(d=3), 0, 10_000, memory_budget=100_000)
    with pytest.raises(MemoryBudgetExceeded):
        UnitStream(Setting(d=3), 0, memory_budget=100_000).take(10_000)


def test_the_command_line_refuses_a_huge_width_in_one_line(tmp_path, capsys, monkeypatch):
    argv = ["solve", "--paradigm", "weight", "--d", "2", "--width", "10000000000", "--seed", "0", "--eps", "0.1",
            "--out", str(tmp_path / "o")]
    one_line_exit_2(argv, capsys, "width 10,000,000,000 in d = 2 needs")
    one_line_exit_2([*argv[:5], "--width", "2000000", *argv[7:], "--memory-budget", "1MB"], capsys,
                    "over the memory budget of 1,000,000 bytes")
    monkeypatch.setenv("PRUNEGAP_MEMORY_BUDGET", "1000")
    one_line_exit_2([*argv[:5], "--width", "100", *argv[7:]], capsys, "over the memory budget of 1,000 bytes")
    assert not (tmp_path / "o").exists()


# --- one limit on d --------------------------------------------------------------------------

def test_one_limit_on_d_everywhere(tmp_path, capsys):
    rule = f"[1, {MAX_DIMENSION}]"
    assert MAX_DIMENSION == 64
    Setting(d=MAX_DIMENSION)
    with pytest.raises(InvalidArgument, match=rf"d must be an integer in \[1, {MAX_DIMENSION}\], got 65"):
        Setting(d=MAX_DIMENSION + 1)
    for cmd in (["width"], ["solve", "--width", "4"]):
        one_line_exit_2([*cmd, "--paradigm", "weight", "--d", "10000", "--seed", "0", "--eps", "0.1",
                         "--out", str(tmp_path / "o")], capsys, f"d must be an integer in {rule}, got 10000")
    p = tmp_path / "d.toml"
    p.write_text('seeds = 1\ndims = [65]\neps = [0.1]\n[[studies]]\nparadigm = "weight"\n')
    with pytest.raises(InvalidArgument, match=rf"dims\[0\] must be an integer in \[1, {MAX_DIMENSION}\], got 65"):
        load_config(p)
    from prunegap.torch.popup import PopupConfig

    with pytest.raises(InvalidArgument, match=rf"d must be an integer in \[1, {MAX_DIMENSION}\]"):
        PopupConfig(dataset="teacher", d=65)


# --- config files: regular, at most 1 MiB ------------------------------------------------------

def test_config_files_are_bounded_and_regular(tmp_path, capsys):
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    cases = [(big, "is larger than 1 MiB"), (fifo, "is not a regular file"), (tmp_path, "is a folder"),
             (tmp_path / "none.toml", "does not exist")]
    if os.path.exists("/dev/zero"):
        cases.append((Path("/dev/zero"), "is not a regular file"))
    for path, needle in cases:
        # a pipe with no writer is not waited on, /dev/zero not read (either would hang here)
        one_line_exit_2(["gap", "--config", str(path), "--show-config"], capsys, needle)
    ok = tmp_path / "ok.toml"
    ok.write_bytes(b'seeds = 1\ndims = [2]\neps = [0.1]\n[[studies]]\nparadigm = "weight"\n' + b"#" * 1000)
    assert main(["gap", "--config", str(ok), "--show-config"]) == 0


# --- .npz files: headers first ------------------------------------------------------------------

def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=True)
    return buf.getvalue()


def lying_npz(path: Path, arrays: dict, shape_of: dict) -> None:
    """An .npz whose members' headers declare ``shape_of[name]`` (data: as ``arrays`` has it)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, a in arrays.items():
            blob = npy_bytes(a)
            if name in shape_of:
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(a.dtype),
                                                              "fortran_order": False, "shape": shape_of[name]})
                old = io.BytesIO(blob)
                np.lib.format.read_magic(old)
                np.lib.format.read_array_header_1_0(old)
                blob = header.getvalue() + blob[old.tell():]
            z.writestr(f"{name}.npy", blob)


def ticket_arrays(n=5, d=2):
    inst = draw_instance(Setting(d=d), 0, n)
    return {"w": inst.w, "U": inst.U, "v": inst.v, "hidden_mask": np.ones((n, d), np.uint8),
            "output_mask": np.ones(n, np.uint8)}


def test_a_ticket_that_declares_a_huge_array_is_refused_before_its_data_is_read(tmp_path, monkeypatch):
    path = tmp_path / "ticket.npz"
    arrays = ticket_arrays()
    # U declares 3e8 x 2 (4.8 GB): numpy.load allocated it all before any check
    lying_npz(path, arrays, {"U": (300_000_000, 2), "v": (300_000_000,), "hidden_mask": (300_000_000, 2),
                             "output_mask": (300_000_000,)})
    tracemalloc.start()
    try:
        with pytest.raises(InvalidArgument, match=r"declares shape \(300000000, 2\).*the file is damaged"):
            read_ticket(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    # a consistent ticket over the memory budget: refused from its headers, with the sizes
    n = 200_000
    big = {"w": np.ones(2), "U": np.zeros((n, 2)), "v": np.zeros(n), "hidden_mask": np.zeros((n, 2), np.uint8),
           "output_mask": np.zeros(n, np.uint8)}
    np.savez_compressed(tmp_path / "big.npz", **big)
    monkeypatch.setenv("PRUNEGAP_MEMORY_BUDGET", "1000000")
    with pytest.raises(MemoryBudgetExceeded, match=r"declares 5,400,016 bytes of arrays \(U of shape \(200000, 2\)\), "
                                                   r"over the memory budget of 1,000,000 bytes"):
        read_ticket(tmp_path / "big.npz")
    monkeypatch.delenv("PRUNEGAP_MEMORY_BUDGET")
    assert read_ticket(tmp_path / "big.npz").U.shape == (n, 2)


@pytest.mark.parametrize("name, value, needle", [
    ("U", np.ones((5, 2), complex), "array 'U' holds complex numbers"),
    ("U", np.array([["a", "b"]] * 5), "array 'U' holds strings"),
    ("w", np.array([object(), object()], dtype=object), "array 'w' holds Python objects"),
    ("v", np.zeros(5, dtype=[("x", "f8")]), "array 'v' holds structured records"),
])
def test_tickets_of_other_dtypes_are_refused_in_one_line(tmp_path, name, value, needle):
    arrays = {**ticket_arrays(), name: value}
    path = tmp_path / "t.npz"
    with zipfile.ZipFile(path, "w") as z:
        for k, a in arrays.items():
            z.writestr(f"{k}.npy", npy_bytes(a))
    with pytest.raises(InvalidArgument, match=needle + r" \(dtype .*\); it must hold real numbers"):
        read_ticket(path)


def test_empty_networks_are_refused(tmp_path):
    arrays = {"w": np.ones(2), "U": np.zeros((0, 2)), "v": np.zeros(0), "hidden_mask": np.zeros((0, 2), np.uint8),
              "output_mask": np.zeros(0, np.uint8)}
    np.savez(tmp_path / "empty.npz", **arrays)
    with pytest.raises(InvalidArgument, match=r"holds an empty network \(U of shape \(0, 2\)\)"):
        read_ticket(tmp_path / "empty.npz")
    np.savez(tmp_path / "multi.npz", U=np.zeros((0, 2)), V=np.zeros((0, 3)), hidden_mask=np.zeros((0, 2), np.uint8),
             output_mask=np.zeros((0, 3), np.uint8))
    from prunegap.torch.tickets import read_network

    with pytest.raises(InvalidArgument, match="holds an empty network"):
        read_network(tmp_path / "multi.npz")


def test_target_files_are_checked_from_their_headers(tmp_path):
    np.savez(tmp_path / "c.npz", W1=np.ones((3, 2), complex), c=np.ones(3))
    with pytest.raises(InvalidArgument, match="array 'W1' holds complex numbers"):
        load_target_network(tmp_path / "c.npz", 2)
    lying_npz(tmp_path / "huge.npz", {"W1": np.ones((3, 2)), "c": np.ones(3)}, {"W1": (10**9, 2), "c": (10**9,)})
    with pytest.raises(InvalidArgument, match="the file is damaged"):
        load_target_network(tmp_path / "huge.npz", 2)
    np.savez(tmp_path / "wide.npz", W1=np.ones((5000, 2)), c=np.ones(5000))
    with pytest.raises(InvalidArgument, match="at most 4096 units per layer"):
        load_target_network(tmp_path / "wide.npz", 2)


def test_export_of_a_multi_ticket_with_strings_is_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    folder = tmp_path / "t"
    folder.mkdir()
    np.savez(folder / "multi_ticket.npz", U=np.array([["a", "b"]] * 3), V=np.ones((3, 2)),
             hidden_mask=np.ones((3, 2), np.uint8), output_mask=np.ones((3, 2), np.uint8))
    one_line_exit_2(["export", str(folder), "--format", "npz", "--out", str(tmp_path / "x.npz")], capsys,
                    "array 'U' holds strings")
    assert not (tmp_path / "x.npz").exists()


def test_an_exported_ticket_whose_metadata_lies_is_refused(tmp_path):
    pytest.importorskip("torch")
    import json

    from prunegap.torch.export import export_ticket, load_ticket

    inst = draw_instance(Setting(d=2), 0, 4)
    write_ticket(tmp_path / "ticket.npz", inst.w, inst.U, inst.v, Masks.from_units(np.array([1, 0, 1, 1]), 2))
    out = export_ticket(tmp_path, tmp_path / "e.npz")
    assert load_ticket(out).width == 4
    with np.load(out) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["__metadata__"]))
    arrays["__metadata__"] = np.array(json.dumps({**meta, "width": 10**9}))  # a module of 10^9 units
    np.savez(tmp_path / "lie.npz", **arrays)
    with pytest.raises(InvalidArgument, match="its metadata declares d = 2, width = 1000000000"):
        load_ticket(tmp_path / "lie.npz")
    np.savez(tmp_path / "cplx.npz", **{**arrays, "hidden.weight_orig": arrays["hidden.weight_orig"] + 0j})
    with pytest.raises(InvalidArgument, match="holds complex numbers"):
        load_ticket(tmp_path / "cplx.npz")


def test_every_npz_reader_is_the_checked_one():
    # one reader: no module of the package calls numpy.load
    root = Path(__file__).parent.parent / "src" / "prunegap"
    callers = [str(p.relative_to(root)) for p in root.rglob("*.py") if "np.load(" in p.read_text()]
    assert callers == []


# --- study options: refused at load, before any trial -----------------------------------------

def study_file(tmp_path, paradigm, method, options, name="opt.toml"):
    p = tmp_path / name
    pattern = {"nm": {"nm": '"1:2"'}, "block": {"block": "2"}}.get(paradigm, {})
    opts = ", ".join(f"{k} = {v}" for k, v in {**pattern, **options}.items())
    p.write_text(f'seeds = 1\ndims = [2]\neps = [0.1]\n[[studies]]\nparadigm = "{paradigm}"\nmethod = "{method}"\n'
                 f"options = {{ {opts} }}\n")
    return p


@pytest.mark.parametrize("paradigm, method, options, needle", [
    ("weight", "construction", {"memory_budget": -1}, "memory_budget (bytes) must be an integer >= 0, got -1"),
    ("weight", "construction", {"memory_budget": '"2GiB"'}, "memory_budget (bytes) must be an integer, got '2GiB'"),
    ("weight", "construction", {"memory_budget": '"banana"'}, "memory_budget (bytes) must be an integer, got 'banana'"),
    ("weight", "construction", {"memory_budget": "true"}, "memory_budget (bytes) must be an integer, got True"),
    ("neuron", "mip", {"workers": 100000}, "workers must be an integer in [1, 256], got 100000"),
    ("neuron", "mip", {"descend": '"yes"'}, "descend must be true or false, got a string 'yes'"),
    ("weight", "construction", {"max_cells": 0}, "max_cells must be an integer >= 1, got 0"),
    ("weight", "construction", {"tol": -1}, "tol must be a positive finite number, got -1"),
])
def test_bad_study_options_are_refused_at_load(tmp_path, capsys, paradigm, method, options, needle):
    p = study_file(tmp_path, paradigm, method, options)
    study = f"{paradigm}-{method}"
    with pytest.raises(InvalidArgument) as exc:
        load_config(p)
    assert f"studies[0].options: {needle} (study {study!r})" in str(exc.value)
    one_line_exit_2(["gap", "--config", str(p), "--show-config"], capsys, needle)


def test_every_option_of_every_method_has_its_value_checked(tmp_path):
    _register_all()
    checked = 0
    for (paradigm, method), cls in sorted(METHODS.items()):
        keys = sorted(method_options(cls()) | set(KNOWN_SOLVER_OPTIONS))
        p = study_file(tmp_path, paradigm, method, {}, "good.toml")
        assert load_config(p).study(f"{paradigm}-{method}")  # the good values load
        for key in keys:
            for bad in ['"banana"', "-1"] + (["true"] if key != "descend" else []):
                p = study_file(tmp_path, paradigm, method, {key: bad}, "bad.toml")
                with pytest.raises(InvalidArgument, match=rf"studies\[0\]\.options.*{key}"):
                    load_config(p)
                checked += 1
    assert checked > 100


def test_the_reference_solvers_options_of_the_certify_study_are_checked_too(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('seeds = 1\ndims = [2]\neps = [0.1]\n[[studies]]\nparadigm = "weight"\n[popup]\nenabled = false\n'
                 '[popup.certify]\nenabled = true\nparadigms = ["weight"]\nwidths = [8]\ndensities = [0.5]\nseeds = 1\n'
                 "solver_options = { memory_budget = -1 }\n")
    with pytest.raises(InvalidArgument, match=r"popup\.certify\.solver_options: memory_budget \(bytes\) must be an integer >= 0"):
        load_config(p)
    p.write_text(p.read_text().replace("memory_budget = -1", "node_limit = 0"))
    with pytest.raises(InvalidArgument, match=r"popup\.certify\.solver_options: node_limit must be an integer >= 1, got 0"):
        load_config(p)
    p.write_text(p.read_text().replace("node_limit = 0", "node_limit = 5"))
    assert load_config(p).certify is not None
