"""The Python package against the engine's command line and theory."""

from __future__ import annotations

import csv
import doctest
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import attractor

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def cli() -> Path:
    """The `attractor` binary of this checkout (ATTRACTOR_BIN, else the
    release or debug build in $CARGO_TARGET_DIR or target/): the Python
    results are checked against it."""
    given = os.environ.get("ATTRACTOR_BIN")
    if given:
        return Path(given)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("release", "debug"):
        p = target / profile / "attractor"
        if p.exists():
            return p
    pytest.fail("no attractor binary: run `cargo build --release` or set ATTRACTOR_BIN")


def run_cli(tmp_path: Path, exp: Path, *args: str) -> Path:
    out = tmp_path / "cli"
    subprocess.run(
        [str(cli()), "run", str(exp), "--out", str(out), "--quiet", *args],
        check=True,
    )
    return out


def read_metrics(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head, body = rows[0], np.array(rows[1:], dtype=float)
    return {k: body[:, j] for j, k in enumerate(head)}


def autapse() -> dict:
    """Four autapses with feedback lambda = -1, 0, 0.5, 0.66 (examples/autapse.toml)."""
    return {
        "name": "autapse",
        "network": {
            "n": 4,
            "tau": 0.01,
            "weights": {"kind": "diagonal", "values": np.array([-1.0, 0.0, 0.5, 0.66])},
        },
        "input": [{"start": 0.0, "end": 0.3, "kind": "uniform", "value": 1.0}],
        "simulation": {"duration": 0.5, "dt": 1e-4, "method": "rk4", "record_every": 10},
    }


@pytest.mark.parametrize("name", ["ring_memory", "autapse", "pattern_completion", "chaos"])
def test_a_python_run_equals_the_cli_run(tmp_path: Path, name: str) -> None:
    """Same file, same backend: the same numbers, bit for bit (rates.npy
    holds the same float32 values; metrics.csv prints each f64 so that it
    reads back exactly)."""
    path = EXAMPLES / f"{name}.toml"
    out = run_cli(tmp_path, path, "--backend", "cpu")
    r = attractor.run(attractor.Experiment.from_toml(path), backend="cpu")
    assert r.backend == "cpu"
    if r.rates.size:
        np.testing.assert_array_equal(r.rates, np.load(out / "rates.npy"))
    m = read_metrics(out / "metrics.csv")
    np.testing.assert_array_equal(r.t, m["t"])
    assert set(r.metrics) == set(m) - {"t"}
    for k, v in r.metrics.items():
        np.testing.assert_array_equal(v, m[k], err_msg=k)
    summary = json.loads((out / "summary.json").read_text())
    assert r.summary["steps_done"] == summary["steps_done"]
    assert r.summary["final"] == summary["final"]


def test_random_and_packed_weights_from_dicts() -> None:
    """Generated and stored random weights give the same run bit for bit;
    packed patterns agree with float ones to float rounding; `modes`
    reports the circular law."""
    chaos = {
        "network": {
            "n": 300,
            "tau": 0.01,
            "dynamics": "current",
            "activation": {"kind": "tanh"},
            "weights": {"kind": "random", "g": 1.5, "seed": 1, "materialise": False},
        },
        "initial": {"kind": "random", "low": -1.0, "high": 1.0},
        "simulation": {"duration": 0.02, "dt": 0.001},
    }
    exp = attractor.Experiment.from_dict(chaos)
    a = attractor.run(exp, backend="cpu")
    b = attractor.run(exp.with_overrides({"network.weights.materialise": True}), backend="cpu")
    np.testing.assert_array_equal(a.rates, b.rates)
    assert set(a.metrics) == {"mean_rate", "rate_variance"}
    m = attractor.modes(exp)
    assert m.circular_law == 1.5
    assert 1.3 < m.spectral_radius < 1.8
    hop = attractor.Experiment.from_toml(EXAMPLES / "pattern_completion.toml")
    f = attractor.run(hop, backend="cpu")
    p = attractor.run(hop.with_overrides({"network.weights.packed": True}), backend="cpu")
    np.testing.assert_allclose(p.metrics["overlap_0"], f.metrics["overlap_0"], atol=1e-9)


def test_rates_are_float32_records_by_neurons() -> None:
    r = attractor.run(EXAMPLES / "ring_memory.toml", backend="cpu")
    assert r.rates.dtype == np.float32
    assert r.rates.shape == (len(r.t), 512)
    assert r.final_state.shape == (512,)


def test_out_writes_the_usual_folder(tmp_path: Path) -> None:
    r = attractor.run(EXAMPLES / "autapse.toml", backend="cpu", out=tmp_path / "o")
    names = {Path(p).name for p in r.written}
    assert {"summary.json", "metrics.csv", "rates.npy"} <= names
    np.testing.assert_array_equal(np.load(tmp_path / "o" / "rates.npy"), r.rates)
    # Without `out`, nothing is written.
    assert attractor.run(EXAMPLES / "autapse.toml", backend="cpu").written is None


def test_a_dict_equals_its_file() -> None:
    """The dict of examples/autapse.toml (numpy array for the weights) runs
    exactly as the file does."""
    a = attractor.run(attractor.Experiment.from_dict(autapse()), backend="cpu")
    b = attractor.run(EXAMPLES / "autapse.toml", backend="cpu")
    np.testing.assert_array_equal(a.rates, b.rates)
    assert a.summary["name"] == "autapse"


def test_autapses_reach_their_analytic_gain() -> None:
    """Linear autapse: v -> h / (1 - lambda) with time constant tau / (1 -
    lambda) (29.4 ms at most): at t = 0.3 s, 10 of those, the rates are
    within e^-10 = 5e-5 of the gain; RK4 at dt = 0.1 ms adds ~1e-12."""
    r = attractor.run(attractor.Experiment.from_dict(autapse()), backend="cpu")
    lam = np.array([-1.0, 0.0, 0.5, 0.66])
    k = int(np.argmin(np.abs(r.t - 0.3)))
    np.testing.assert_allclose(r.rates[k], 1 / (1 - lam), rtol=1e-4)
    m = attractor.modes(attractor.Experiment.from_dict(autapse()))
    np.testing.assert_allclose(np.sort(m.gains.real), np.sort(1 / (1 - lam)), rtol=1e-12)
    np.testing.assert_allclose(
        np.sort(m.time_constants), np.sort(0.01 / (1 - lam)), rtol=1e-12
    )
    assert list(m.regimes) == ["decaying"] * 4
    np.testing.assert_allclose(m.steady_states[0], 1 / (1 - lam), rtol=1e-12)


def test_overrides_equal_the_cli_set(tmp_path: Path) -> None:
    """with_overrides is `--set`: the ring below criticality (lambda1 = 1.9)
    gives the CLI's numbers, and its bump fades after the input."""
    path = EXAMPLES / "ring_memory.toml"
    out = run_cli(tmp_path, path, "--backend", "cpu", "--set", "network.weights.lambda1=1.9")
    exp = attractor.Experiment.from_toml(path).with_overrides({"network.weights.lambda1": 1.9})
    r = attractor.run(exp, backend="cpu")
    np.testing.assert_array_equal(r.rates, np.load(out / "rates.npy"))
    held = attractor.run(path, backend="cpu")
    # Below criticality the activity decays after the input; above it holds.
    assert r.rates[-1].max() < 0.1 * held.rates[-1].max()


def test_errors_name_the_key() -> None:
    bad = autapse()
    bad["network"]["n"] = 0
    with pytest.raises(attractor.ExperimentError, match="network.n"):
        attractor.Experiment.from_dict(bad)
    # An ExperimentError is a ValueError, as numpy and scipy raise.
    with pytest.raises(ValueError):
        attractor.Experiment.from_dict(bad)
    with pytest.raises(attractor.ExperimentError, match="simulation.dt"):
        attractor.Experiment.from_dict(autapse()).with_overrides({"simulation.dt": -1.0})
    none = autapse()
    none["simulation"]["dt"] = None
    with pytest.raises(attractor.ExperimentError, match="simulation.dt"):
        attractor.Experiment.from_dict(none)
    with pytest.raises(attractor.ExperimentError, match="backend"):
        attractor.run(attractor.Experiment.from_dict(autapse()), backend="tpu")
    with pytest.raises(FileNotFoundError):
        attractor.Experiment.from_toml("no/such/file.toml")


def test_divergence_raises_with_the_records_so_far() -> None:
    """lambda = 10^6 with Euler steps of dt = tau / 10: the state grows by
    ~10^5 a step and overflows float32 within a few steps."""
    d = autapse()
    d["network"]["n"] = 1
    d["network"]["weights"] = {"kind": "diagonal", "values": [1e6]}
    d["simulation"].update(method="euler", dt=1e-3, record_every=1)
    with pytest.raises(attractor.DivergenceError) as e:
        attractor.run(d, backend="cpu")
    r = e.value.result
    assert 0 < len(r.t) < 100
    # The records are those before the blow-up (the f64 state is finite
    # there; its float32 rates may already overflow).
    assert np.isfinite(r.metrics["mean_rate"]).all()
    assert r.summary["diverged"] is not None


def test_progress_is_called_up_to_the_last_step() -> None:
    seen: list[tuple[int, int]] = []
    exp = attractor.Experiment.from_toml(EXAMPLES / "ring_memory.toml")
    attractor.run(exp, backend="cpu", progress=lambda done, total: seen.append((done, total)))
    assert seen, "no progress reported"
    assert seen[-1] == (exp.steps, exp.steps)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))


def test_a_progress_callback_that_raises_stops_with_its_exception() -> None:
    def boom(done: int, total: int) -> None:
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        attractor.run(EXAMPLES / "autapse.toml", backend="cpu", progress=boom)


def test_gpu_equals_cpu() -> None:
    """The ring memory on the GPU (the software adapter where there is no
    GPU) against the CPU, both f32: sums in a different order differ by a
    few ulps a step; the bump is an attractor, so they stay within 1e-4 of
    rates of order 1 over the 2000 steps. No adapter is a failure here, not
    a skip: the test command installs the software adapter."""
    assert attractor.devices(), "no GPU adapter (install mesa-vulkan-drivers)"
    exp = attractor.Experiment.from_toml(EXAMPLES / "ring_memory.toml")
    g = attractor.run(exp, backend="gpu")
    c = attractor.run(exp, backend="cpu")
    assert g.backend == "gpu" and g.adapter
    np.testing.assert_allclose(g.rates, c.rates, atol=1e-4)
    np.testing.assert_allclose(g.metrics["bump_theta"], c.metrics["bump_theta"], atol=1e-4)


def test_memory_is_released_between_runs() -> None:
    """200 runs of the ring memory (each result ~0.4 MB of rates): after
    the first 20 the process's resident memory grows by less than 16 MiB,
    where keeping each run's arrays would add ~70 MB."""

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    exp = attractor.Experiment.from_toml(EXAMPLES / "ring_memory.toml")
    for _ in range(20):
        attractor.run(exp, backend="cpu")
    before = rss()
    for _ in range(180):
        attractor.run(exp, backend="cpu")
    assert rss() - before < 16 << 20


def test_docstrings() -> None:
    """The examples in the package's docstrings run and print what they say."""
    failures, _ = doctest.testmod(attractor)
    assert failures == 0
    assert attractor.run.__doc__ and attractor.Experiment.from_dict.__doc__


def noisy_ring() -> attractor.Experiment:
    """The ring memory with noise, shortened: trials then differ."""
    return attractor.Experiment.from_toml(EXAMPLES / "ring_memory.toml").with_overrides(
        {"simulation.noise": 0.05, "simulation.duration": 0.4}
    )


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
def test_batch_trials_equal_single_runs(backend: str) -> None:
    """Each trial of a batch is the single run with that seed, noise and
    initial state: bit for bit on the CPU (the same trial loop), and on the
    GPU the batch kernel steps every trial as the one-trial kernel does."""
    exp = noisy_ring()
    x0 = np.full(exp.n, 0.2)
    trials = [
        {"seed": 1, "trial": 0},
        {"seed": 2, "trial": 0, "noise": 0.1},
        {"seed": 3, "trial": 0, "initial": x0},
    ]
    b = attractor.run_batch(exp, trials, backend=backend)
    assert b.rates.shape == (3, len(b.t), exp.n)
    assert b.metrics["bump_theta"].shape == (3, len(b.t))
    singles = [
        exp.with_overrides({"simulation.seed": 1}),
        exp.with_overrides({"simulation.seed": 2, "simulation.noise": 0.1}),
        exp.with_overrides({"simulation.seed": 3, "initial": {"kind": "vector", "values": x0}}),
    ]
    for k, e in enumerate(singles):
        r = attractor.run(e, backend=backend)
        np.testing.assert_array_equal(b.rates[k], r.rates, err_msg=f"trial {k}")
        np.testing.assert_array_equal(b.metrics["bump_theta"][k], r.metrics["bump_theta"])
    # Different seeds, different noise.
    assert not np.array_equal(b.rates[0], b.rates[1])


def test_batch_defaults_and_errors() -> None:
    """Without a seed or trial word, trial k takes the experiment's seed
    and the word k: trial 0 is the experiment's own run."""
    exp = noisy_ring()
    b = attractor.run_batch(exp, [{}, {}], backend="cpu")
    np.testing.assert_array_equal(b.rates[0], attractor.run(exp, backend="cpu").rates)
    assert not np.array_equal(b.rates[0], b.rates[1])
    with pytest.raises(attractor.ExperimentError, match="trial.initial"):
        attractor.run_batch(exp, [{"initial": np.zeros(3)}], backend="cpu")
    with pytest.raises(attractor.ExperimentError, match="trials\\[0\\].sed"):
        attractor.run_batch(exp, [{"sed": 1}], backend="cpu")


def test_sweep_equals_the_cli_sweep(tmp_path: Path) -> None:
    """The example retention sweep, cut to two grid points and two trials,
    through Python and through `attractor sweep`: the same results rows."""
    src = (EXAMPLES / "sweeps" / "ring_retention.toml").read_text()
    assert "base" in src
    out_py, out_cli = tmp_path / "py", tmp_path / "cli"
    path = EXAMPLES / "sweeps" / "ring_retention.toml"
    s = attractor.sweep(path, out=out_py, shard="0/8", backend="cpu")
    subprocess.run(
        [str(cli()), "sweep", str(path), "--out", str(out_cli), "--shard", "0/8",
         "--backend", "cpu", "--quiet"],
        check=True,
    )
    cli_rows = attractor.read_table(out_cli / "results.csv")
    assert s.ran == len(cli_rows) > 0
    assert s.results.dtype.names == cli_rows.dtype.names
    for name in s.results.dtype.names:
        if name in ("wall_seconds", "seconds"):
            continue
        np.testing.assert_array_equal(s.results[name], cli_rows[name], err_msg=name)
    assert len(s.summary) > 0
    # Resuming a finished sweep runs nothing more.
    again = attractor.sweep(path, out=out_py, shard="0/8", resume=True, backend="cpu")
    assert again.ran == 0 and again.skipped == s.ran


def linear(weights: dict, n: int, tmp: Path, inputs: bool) -> dict:
    """A linear network of n neurons with `weights`, the input and the
    initial state read from .npy files h.npy and x0.npy."""
    d = {
        "network": {"n": n, "tau": 0.01, "weights": weights},
        "input": [{"kind": "file", "path": "h.npy"}] if inputs else [],
        "initial": {"kind": "file", "path": "x0.npy"},
        "simulation": {"duration": 0.05, "dt": 1e-4, "method": "rk4", "record_every": 5},
    }
    return d


def test_numpy_arrays_equal_npy_files(tmp_path: Path) -> None:
    """Every key that names a .npy file takes a numpy array instead, with
    the same run bit for bit: dense M, low-rank U and V, Hebbian patterns,
    an input vector, the initial state."""
    rng = np.random.default_rng(7)
    n, r = 12, 3
    arrays = {
        "m.npy": 0.5 * rng.standard_normal((n, n)) / np.sqrt(n),
        "u.npy": rng.standard_normal((n, r)) / n,
        "v.npy": rng.standard_normal((n, r)),
        "xi.npy": np.sign(rng.standard_normal((2, n))),
        "h.npy": rng.standard_normal(n),
        "x0.npy": rng.standard_normal(n),
    }
    for name, a in arrays.items():
        np.save(tmp_path / name, a)
    cases = [
        ({"kind": "file", "path": "m.npy"}, {"kind": "file", "path": arrays["m.npy"]}),
        (
            {"kind": "low_rank", "u": "u.npy", "v": "v.npy"},
            {"kind": "low_rank", "u": arrays["u.npy"], "v": arrays["v.npy"]},
        ),
        ({"kind": "hebbian", "path": "xi.npy"}, {"kind": "hebbian", "path": arrays["xi.npy"]}),
    ]
    for files, given in cases:
        a = linear(files, n, tmp_path, True)
        b = linear(given, n, tmp_path, True)
        b["input"][0]["path"] = arrays["h.npy"]
        b["initial"]["path"] = arrays["x0.npy"]
        ra = attractor.run(attractor.Experiment.from_dict(a, base_dir=tmp_path), backend="cpu")
        rb = attractor.run(attractor.Experiment.from_dict(b, base_dir=tmp_path / "elsewhere"), backend="cpu")
        np.testing.assert_array_equal(ra.rates, rb.rates, err_msg=files["kind"])
        assert np.abs(ra.rates).max() > 0
    # A wrong shape is refused naming the key, as for a file.
    bad = linear({"kind": "file", "path": np.zeros((n, n + 1))}, n, tmp_path, False)
    bad["initial"] = {"kind": "zeros"}
    with pytest.raises(attractor.ExperimentError, match="network.weights.path"):
        attractor.Experiment.from_dict(bad)
    # An override can hand over an array too.
    e = attractor.Experiment.from_dict(linear(cases[0][1], n, tmp_path, False) | {"initial": {"kind": "zeros"}})
    m2 = 0.1 * np.eye(n)
    e2 = e.with_overrides({"network.weights.path": m2})
    assert np.allclose(attractor.modes(e2).eigenvalues.real, 0.1)


def test_scipy_sparse_matrices_are_sparse_weights(tmp_path: Path) -> None:
    """A scipy.sparse matrix in any format stands where a weight array
    does (``kind = "file"`` or ``"sparse"``): the run is the one of the same
    matrix dense, bit for bit up to the sums' order (1e-12), and of the
    same matrix from the .npz scipy writes; duplicates are summed."""
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(3)
    n = 40
    dense = np.where(rng.random((n, n)) < 0.1, rng.standard_normal((n, n)) * 0.3, 0.0)
    dense[5] = 0.0  # an empty row
    np.save(tmp_path / "m.npy", dense)
    coo = sp.coo_matrix(dense)
    # A duplicate: (0, 1) split in two entries.
    dup = sp.coo_matrix(
        (np.r_[coo.data, 0.25, -0.25], (np.r_[coo.row, 0, 0], np.r_[coo.col, 1, 1])), shape=(n, n)
    )
    sp.save_npz(tmp_path / "m.npz", sp.csr_matrix(dense))
    base = linear({"kind": "file", "path": "m.npy"}, n, tmp_path, True)
    np.save(tmp_path / "h.npy", rng.standard_normal(n))
    np.save(tmp_path / "x0.npy", rng.standard_normal(n))
    want = attractor.run(attractor.Experiment.from_dict(base, base_dir=tmp_path), backend="cpu")
    for weights in (
        {"kind": "file", "path": sp.csr_matrix(dense)},
        {"kind": "sparse", "path": sp.csc_matrix(dense)},
        {"path": dup, "kind": "file"},
        {"kind": "sparse", "path": "m.npz"},
    ):
        e = attractor.Experiment.from_dict(linear(weights, n, tmp_path, True), base_dir=tmp_path)
        assert 'kind = "sparse"' in e.toml
        r = attractor.run(e, backend="cpu")
        np.testing.assert_allclose(r.rates, want.rates, rtol=0, atol=1e-12)
    # An index out of range is refused naming the key.
    bad = sp.coo_matrix(([1.0], ([0], [n])), shape=(n, n + 1))
    d = linear({"kind": "file", "path": bad}, n, tmp_path, False)
    d["initial"] = {"kind": "zeros"}
    with pytest.raises(attractor.ExperimentError, match="network.weights.*outside 0..40"):
        attractor.Experiment.from_dict(d)


LONG_RUN = """
import sys, attractor
exp = attractor.Experiment.from_toml(sys.argv[1]).with_overrides(
    {"simulation.duration": float(sys.argv[3]), "simulation.record_every": 1000000})
said = []
def started(done, total):
    if not said:
        said.append(print("stepping", flush=True))
try:
    attractor.run(exp, backend=sys.argv[2], progress=started)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
print("finished", flush=True)
"""


@pytest.mark.parametrize("backend,duration", [("cpu", 1e5), ("gpu", 1e4)])
def test_ctrl_c_interrupts_a_long_run(tmp_path: Path, backend: str, duration: float) -> None:
    """SIGINT (Ctrl-C) a second after a run of 2 * 10^8 (CPU) or 2 * 10^7
    (GPU) steps, hours of work, has begun stepping raises KeyboardInterrupt
    soon: on the CPU within 256 steps, on the GPU once the submit under way
    (at most 1024 steps, one more queued) is done, which on the software
    adapter takes up to ~7 s for this ring (6.5 ms a step on llvmpipe
    here), so 30 s bounds both."""
    import signal
    import sys
    import time

    script = tmp_path / "long.py"
    script.write_text(LONG_RUN)
    p = subprocess.Popen(
        [sys.executable, str(script), str(EXAMPLES / "ring_memory.toml"), backend, str(duration)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline().strip() == "stepping"
    time.sleep(1.0)
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 3, out
    assert "interrupted" in out
    assert time.monotonic() - sent < 30


def test_the_gil_is_released_while_stepping() -> None:
    """Python code runs in another thread while a run steps: a counter in
    the main thread advances during the run (with the GIL held it could
    not move at all until the run returned)."""
    import threading

    exp = noisy_ring().with_overrides({"simulation.duration": 20.0})
    done = threading.Event()
    t = threading.Thread(target=lambda: (attractor.run(exp, backend="cpu"), done.set()))
    t.start()
    count = 0
    while not done.is_set() and t.is_alive():
        count += 1
    t.join()
    assert done.is_set()
    assert count > 10_000


def test_progress_true_without_tqdm_writes_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    """progress=True shows tqdm's bar where tqdm is installed, else a line
    on stderr ending at steps/steps (100%)."""
    exp = attractor.Experiment.from_toml(EXAMPLES / "autapse.toml")
    attractor.run(exp, backend="cpu", progress=True)
    err = capsys.readouterr().err
    try:
        import tqdm  # noqa: F401
    except ImportError:
        assert f"{exp.steps}/{exp.steps} (100%)" in err
    else:
        assert f"{exp.steps}/{exp.steps}" in err


def test_a_sweep_dict_equals_its_file(tmp_path: Path) -> None:
    """A sweep given as a dict runs as the file with the same tables."""
    d = {
        "base": "ring_memory.toml",
        "trials": 2,
        "grid": {"network.weights.lambda1": [1.9, 2.2], "network.n": [128]},
        "retention": {"metric": "bump_amplitude", "threshold": 0.5},
    }
    a = attractor.sweep(d, out=tmp_path / "a", backend="cpu", base_dir=EXAMPLES, name="small")
    text = (
        f'base = "{EXAMPLES / "ring_memory.toml"}"\ntrials = 2\n[grid]\n'
        '"network.weights.lambda1" = [1.9, 2.2]\n"network.n" = [128]\n'
        '[retention]\nmetric = "bump_amplitude"\nthreshold = 0.5\n'
    )
    (tmp_path / "small.toml").write_text(text)
    b = attractor.sweep(tmp_path / "small.toml", out=tmp_path / "b", backend="cpu")
    assert a.ran == b.ran == 4 and a.name == b.name == "small"
    for name in a.results.dtype.names:
        if "seconds" not in name:
            np.testing.assert_array_equal(a.results[name], b.results[name], err_msg=name)
    with pytest.raises(attractor.ExperimentError, match="trials"):
        attractor.sweep(dict(d, trials=0), out=tmp_path / "c", base_dir=EXAMPLES)


def test_the_examples_reproduce_the_readme(tmp_path: Path) -> None:
    """python/examples run from any folder and print the README's
    figures: the ring holds its bump at amplitude 0.540 above criticality
    and lets it fade (0.017) below; the Hopfield cue goes from overlap
    0.381 to 1.000 with the energy falling monotonically."""
    import sys

    def run(name: str) -> str:
        return subprocess.run(
            [sys.executable, str(ROOT / "python" / "examples" / name)],
            cwd=tmp_path,
            env=dict(os.environ, MPLBACKEND="Agg"),
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    ring = run("ring_memory.py")
    assert "lambda1 = 2.1" in ring and "amplitude 0.540" in ring
    assert "lambda1 = 1.9" in ring and "amplitude 0.017" in ring
    hop = run("pattern_completion.py")
    assert "flip 0.25: overlap 0.381 -> 1.000" in hop and "monotone: True" in hop


def test_device_chooses_the_adapter_and_devices_spread_a_sweep(tmp_path: Path) -> None:
    """``device=`` opens the adapter it names and the run's summary says
    why; one that matches nothing is an error listing the adapters; a sweep
    over ``devices=[0, 0]`` (the one adapter opened twice, two batches)
    gives the one-device rows, bit for bit: the same kernels step each
    batch, whichever device takes it."""
    listed = attractor.devices()
    assert listed, "no GPU adapter (install mesa-vulkan-drivers)"
    assert [a["index"] for a in listed] == list(range(len(listed)))
    assert all("pci_bus_id" in a and "memory_bytes" in a for a in listed)
    r = attractor.run(EXAMPLES / "autapse.toml", backend="gpu", device=0)
    assert r.adapter == listed[0]["name"]
    assert r.summary["adapter_chosen_by"] == "device = 0"
    with pytest.raises(attractor.ExperimentError, match="the adapters are"):
        attractor.run(EXAMPLES / "autapse.toml", backend="gpu", device=99)
    d = {
        "base": "ring_memory.toml",
        "trials": 2,
        "grid": {"network.weights.lambda0": [0.0, 0.1], "network.n": [64]},
        "retention": {"metric": "bump_amplitude", "threshold": 0.5},
    }
    one = attractor.sweep(d, out=tmp_path / "one", backend="gpu", base_dir=EXAMPLES, name="d")
    two = attractor.sweep(
        d, out=tmp_path / "two", backend="gpu", base_dir=EXAMPLES, name="d", devices=[0, 0]
    )
    assert one.ran == two.ran == 4 and two.batches == 2

    def ordered(t: np.ndarray) -> np.ndarray:
        return t[np.lexsort((t["trial"], t["point"]))]

    a, b = ordered(one.results), ordered(two.results)
    for name in a.dtype.names:
        if "seconds" not in name:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_populations_and_projections_from_dicts() -> None:
    # The paradoxical effect of examples/wilson_cowan.toml, as dicts:
    # E = 80 and I = 20 identical units with pair weights w / n_from keep
    # the population means of the 2-unit system, whose fixed point before
    # and after h_I rises by 0.5 is (0.8235, 1.5294) -> (0.5294, 1.4118).
    exp = {
        "population": [
            {"name": "E", "n": 80, "tau": 0.02, "activation": {"kind": "relu"}},
            {"name": "I", "n": 20, "tau": 0.01, "activation": {"kind": "relu"}},
        ],
        "projection": [
            {"from": "E", "to": "E", "weights": {"kind": "uniform", "value": 2.0 / 80}},
            {"from": "I", "to": "E", "sign": "inhibitory", "weights": {"kind": "uniform", "value": 2.5 / 20}},
            {"from": "E", "to": "I", "weights": {"kind": "uniform", "value": 2.5 / 80}},
            {"from": "I", "to": "I", "sign": "inhibitory", "weights": {"kind": "uniform", "value": 1.0 / 20}},
        ],
        "input": [
            {"population": "E", "kind": "uniform", "value": 3.0},
            {"population": "I", "kind": "uniform", "value": 1.0},
            {"population": "I", "kind": "uniform", "value": 0.5, "start": 1.0},
        ],
        "simulation": {"duration": 2.0, "dt": 0.0005, "method": "exponential", "record_every": 100},
        "record": {"stride": 3},
    }
    r = attractor.run(exp, backend="cpu")
    # Every third neuron kept: 27 of E (0, 3, ..., 78) and 7 of I (81, ..., 99).
    assert r.populations["E"].shape == (len(r.t), 27)
    assert r.populations["I"].shape == (len(r.t), 7)
    k = int(np.argmin(np.abs(r.t - 1.0)))
    # Fixed points reached to rounding after 1 s (75 e-foldings); rates
    # are float32 (1e-6 relative).
    np.testing.assert_allclose(r.populations["I"][k], 6.5 / 4.25, rtol=1e-5)
    np.testing.assert_allclose(r.populations["I"][-1], 6.0 / 4.25, rtol=1e-5)
    np.testing.assert_allclose(r.metrics["E.mean_rate"][-1], 2.25 / 4.25, rtol=1e-9)
    assert r.summary["populations"][1]["tau"] == 0.01
    # The same network on the GPU: its f32 sums reach the fixed points to
    # 1e-5 as well.
    g = attractor.run(exp, backend="gpu")
    assert g.backend == "gpu"
    np.testing.assert_allclose(g.populations["I"][-1], 6.0 / 4.25, rtol=1e-5)
    np.testing.assert_allclose(g.metrics["E.mean_rate"][-1], 2.25 / 4.25, rtol=1e-5)
