"""attractor: firing-rate recurrent networks (linear, ring, Hopfield)
simulated on the CPU and GPU, from Python, with numpy arrays in and out.

The simulation is the engine's (the Rust library behind the ``attractor``
command line): this package builds experiments, runs them and hands back
arrays.

>>> import attractor
>>> exp = attractor.Experiment.from_dict({
...     "network": {"n": 1, "tau": 0.01,
...                 "weights": {"kind": "diagonal", "values": [0.5]}},
...     "input": [{"kind": "uniform", "value": 1.0}],
...     "simulation": {"duration": 0.5, "dt": 1e-4, "method": "rk4"},
... })
>>> r = attractor.run(exp, backend="cpu")
>>> round(float(r.metrics["mean_rate"][-1]), 6)   # gain 1 / (1 - 0.5)
2.0
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _native
from .errors import (
    AttractorError,
    BackendError,
    DivergenceError,
    ExperimentError,
    OutputError,
)

__all__ = [
    "Experiment",
    "Result",
    "Modes",
    "run",
    "run_batch",
    "BatchResult",
    "sweep",
    "SweepResult",
    "read_table",
    "modes",
    "devices",
    "AttractorError",
    "ExperimentError",
    "DivergenceError",
    "BackendError",
    "OutputError",
]

__version__ = _native.engine_version()

PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, int], Any]


def _jsonable(v: Any) -> Any:
    """numpy arrays and scalars as plain lists and numbers."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    raise TypeError(f"{type(v).__name__} is not an experiment value")


# Keys of the experiment file that name a `.npy` file.
_FILE_KEYS = {"path", "u", "v"}


def _is_sparse(x: Any) -> bool:
    """Whether ``x`` is a scipy.sparse matrix or array (any format)."""
    return hasattr(x, "tocoo") and hasattr(x, "nnz") and hasattr(x, "shape")


def _take_arrays(v: Any, key: str, arrays: Dict[str, np.ndarray]) -> Any:
    """A copy of ``v`` where each numpy array under a file key (``path``,
    ``u``, ``v``) is replaced by a name the engine takes it under, the
    arrays collected in ``arrays``. A scipy.sparse matrix as ``path`` (of
    ``kind = "file"`` or ``"sparse"``) becomes sparse weights: its COO
    triplets, handed over as ``rows``, ``cols`` and ``values``."""
    if isinstance(v, Mapping):
        out = {}
        sparse = False
        for k, x in v.items():
            sub = f"{key}.{k}" if key else str(k)
            if k == "path" and _is_sparse(x):
                coo = x.tocoo()
                for part, a in (("rows", coo.row), ("cols", coo.col), ("values", coo.data)):
                    name = f"<scipy.sparse {len(arrays)}: {key}.{part}>"
                    arrays[name] = np.ascontiguousarray(a, dtype=np.float64)
                    out[part] = name
                sparse = True
            elif k in _FILE_KEYS and isinstance(x, np.ndarray):
                name = f"<numpy array {len(arrays)}: {sub}>"
                arrays[name] = np.ascontiguousarray(x, dtype=np.float64)
                out[k] = name
            else:
                out[k] = _take_arrays(x, sub, arrays)
        if sparse:
            out["kind"] = "sparse"
        return out
    if isinstance(v, (list, tuple)):
        return [_take_arrays(x, f"{key}.{i}", arrays) for i, x in enumerate(v)]
    return v


def _literal(key: str, v: Any) -> str:
    """A Python value as a TOML literal, for a ``key=value`` override."""
    if isinstance(v, (np.ndarray, np.generic)):
        v = v.tolist()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, (str, os.PathLike)):
        return json.dumps(os.fspath(v))
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_literal(f"{key}[{i}]", x) for i, x in enumerate(v)) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_literal(f'{key}.{k}', x)}" for k, x in v.items()) + " }"
    raise ExperimentError(
        f"key `{key}` = {v!r}: a bool, number, string, list or dict "
        f"(not {type(v).__name__})"
    )


class Experiment:
    """A validated experiment: the TOML file format of ``attractor run``,
    from a file, a string or a dict, with ``--set``-style overrides.

    Relative paths in it (``.npy`` files) are taken from ``base_dir``.
    Invalid input raises :class:`ExperimentError` naming the key.
    """

    def __init__(
        self,
        text: str,
        base_dir: PathLike = ".",
        name: str = "experiment",
        overrides: Optional[List[str]] = None,
        arrays: Optional[Dict[str, np.ndarray]] = None,
    ) -> None:
        self._text = text
        self._base = os.fspath(base_dir)
        self._default_name = name
        self._overrides = list(overrides or [])
        self._arrays = dict(arrays or {})
        self._native = _native.load(
            text, self._base, name, self._overrides, list(self._arrays.items())
        )

    @classmethod
    def from_toml(cls, path: PathLike) -> "Experiment":
        """Reads an experiment file (relative paths from its folder; the
        run named after the file unless it names itself)."""
        p = Path(path)
        text = p.read_text(encoding="utf-8")
        return cls(text, p.parent, p.stem)

    @classmethod
    def from_str(cls, text: str, base_dir: PathLike = ".", name: str = "experiment") -> "Experiment":
        """An experiment from TOML text."""
        return cls(text, base_dir, name)

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], base_dir: PathLike = ".", name: str = "experiment"
    ) -> "Experiment":
        """An experiment from a dict laid out as the file's tables
        (``{"network": {...}, "input": [{...}], "simulation": {...}}``).

        A numpy array may stand wherever the file names a ``.npy`` file
        (``weights = {"kind": "file", "path": M}``, low-rank ``u`` and ``v``,
        Hebbian ``path`` of patterns, an input's or the initial state's
        ``path``): it is used as that file would be, without writing one. A
        scipy.sparse matrix (any format) as the weights' ``path`` makes
        sparse weights (``kind = "sparse"``) of its entries, without a file.
        Elsewhere numpy arrays and scalars are taken as lists and numbers."""
        arrays: Dict[str, np.ndarray] = {}
        d = _take_arrays(d, "", arrays)
        try:
            text = json.dumps(d, default=_jsonable, allow_nan=True)
        except TypeError as e:
            raise ExperimentError(f"not an experiment table: {e}") from None
        return cls(_native.json_to_toml(text), base_dir, name, arrays=arrays)

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Experiment":
        """A copy with dotted keys set, as ``attractor run --set``:
        ``exp.with_overrides({"network.weights.lambda1": 2.0})``; a numeric
        part indexes an array (``"input.0.c"``)."""
        arrays = dict(self._arrays)
        given = []
        for k, v in overrides.items():
            if k.rsplit(".", 1)[-1] in _FILE_KEYS and isinstance(v, np.ndarray):
                name = f"<numpy array {len(arrays)}: {k}>"
                arrays[name] = np.ascontiguousarray(v, dtype=np.float64)
                v = name
            given.append(f"{k}={_literal(k, v)}")
        return Experiment(
            self._text, self._base, self._default_name, self._overrides + given, arrays
        )

    @property
    def name(self) -> str:
        """The run's name."""
        return self._native.name

    @property
    def n(self) -> int:
        """Neurons N."""
        return self._native.n

    @property
    def steps(self) -> int:
        """Steps of the simulation."""
        return self._native.steps

    @property
    def toml(self) -> str:
        """The experiment as TOML, overrides applied."""
        return self._native.toml

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, n={self.n}, steps={self.steps})"


@dataclass(frozen=True)
class Result:
    """What a run recorded.

    ``rates`` is float32 [records, kept neurons] (the engine's buffer, not
    copied); ``metrics`` maps each metric of ``metrics.csv`` to its column;
    ``summary`` is ``summary.json``; ``populations`` maps each population
    of a network of several to its columns of ``rates`` (the kept neurons
    that are its own), empty for one population.
    """

    t: np.ndarray
    rates: np.ndarray
    metrics: Dict[str, np.ndarray]
    summary: Dict[str, Any]
    backend: str
    adapter: Optional[str]
    precision: str
    final_state: np.ndarray
    steps_done: int
    wall_seconds: float
    written: Optional[List[str]] = field(default=None)
    populations: Dict[str, np.ndarray] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Result(backend={self.backend!r}, records={len(self.t)}, "
            f"rates={self.rates.shape}, metrics={list(self.metrics)})"
        )


def _as_experiment(exp: Union[Experiment, Mapping[str, Any], PathLike]) -> Experiment:
    if isinstance(exp, Experiment):
        return exp
    if isinstance(exp, Mapping):
        return Experiment.from_dict(exp)
    if isinstance(exp, (str, os.PathLike)):
        return Experiment.from_toml(exp)
    raise TypeError(f"an Experiment, a dict or a path, not {type(exp).__name__}")


def _line_progress(done: int, total: int) -> None:
    """Progress as one line on stderr, rewritten in place."""
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\r{done}/{total} ({100.0 * done / max(total, 1):.0f}%){end}")
    sys.stderr.flush()


def _tqdm_progress() -> Progress:
    """A tqdm bar as a progress callback if tqdm is installed, else a line
    on stderr."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _line_progress
    bar: List[Any] = []

    def update(done: int, total: int) -> None:
        if not bar:
            bar.append(tqdm(total=total, unit="step", file=sys.stderr))
        bar[0].n = done
        bar[0].refresh()
        if done >= total:
            bar[0].close()

    return update


def _device(device: Union[None, int, str]) -> Optional[str]:
    """A device as the engine takes it: an index or a string."""
    return None if device is None else str(device)


def run(
    experiment: Union[Experiment, Mapping[str, Any], PathLike],
    backend: Optional[str] = None,
    out: Optional[PathLike] = None,
    progress: Union[None, bool, Progress] = None,
    device: Union[None, int, str] = None,
) -> Result:
    """Simulates ``experiment`` (an :class:`Experiment`, a dict or a path).

    backend: "auto", "cpu" or "gpu" (default: the experiment's
    ``simulation.backend``, itself "auto" unless set). device: the GPU
    adapter, an index as :func:`devices` lists it, a PCI bus id, a UUID or
    part of a name (default: ``simulation.device``, else the GPU the
    scheduler bound, else the first). out: write the usual
    output folder (summary.json, rates.npy, metrics.csv, plots) there.
    progress: ``True`` for a tqdm bar (a line on stderr without tqdm), or a callable
    ``f(steps_done, steps)`` called at most ten times a second.

    The GIL is released while the network is stepped. A run whose state
    becomes NaN or infinite raises :class:`DivergenceError` with the
    records up to then in ``.result`` (and written to ``out``).
    """
    exp = _as_experiment(experiment)
    d = _native.run(
        exp._native, backend, None if out is None else os.fspath(out), _progress(progress), _device(device)
    )
    result = _result(d)
    if d["fault"] is not None:
        raise BackendError(f"run `{exp.name}` stopped: {d['fault']}", result)
    if d["divergence"] is not None:
        raise DivergenceError(f"run `{exp.name}` stopped: {d['divergence']}", result)
    return result


def _by_population(rates: np.ndarray, summary: Dict[str, Any]) -> Dict[str, np.ndarray]:
    """The columns of ``rates`` each population keeps (every
    ``rates_stride``-th neuron of the network), as rates_NAME.npy holds them."""
    stride = summary.get("rates_stride", 1)
    kept = np.arange(rates.shape[1]) * stride
    out = {}
    for p in summary.get("populations", []):
        mine = (kept >= p["first_neuron"]) & (kept < p["first_neuron"] + p["n"])
        out[p["name"]] = rates[:, mine]
    return out


def _result(d: Dict[str, Any]) -> Result:
    """A :class:`Result` from the native run's dict."""
    names = d["metric_names"]
    m = d["metrics"]
    summary = json.loads(d["summary_json"])
    return Result(
        t=d["t"],
        rates=d["rates"],
        metrics={k: m[:, j] for j, k in enumerate(names)},
        summary=summary,
        backend=d["backend"],
        adapter=d["adapter"],
        precision=d["precision"],
        final_state=d["final_state"],
        steps_done=d["steps_done"],
        wall_seconds=d["wall_seconds"],
        written=None if d["written"] is None else [os.fspath(p) for p in d["written"]],
        populations=_by_population(d["rates"], summary),
    )


def _progress(progress: Union[None, bool, Progress]) -> Optional[Progress]:
    if progress is True:
        return _tqdm_progress()
    if progress is None or progress is False:
        return None
    return progress


@dataclass(frozen=True)
class BatchResult:
    """Trials run together (:func:`run_batch`), stacked: ``rates`` float32
    [trials, records, kept neurons], ``metrics`` name -> [trials, records],
    ``final_state`` [trials, N]. Records after a trial's divergence are NaN
    and ``diverged[k]`` holds its message (None for a trial that did not)."""

    t: np.ndarray
    rates: np.ndarray
    metrics: Dict[str, np.ndarray]
    final_state: np.ndarray
    diverged: List[Optional[str]]
    backend: str
    adapter: Optional[str]
    wall_seconds: float
    results: List[Result]

    def __len__(self) -> int:
        return len(self.results)


_TRIAL_KEYS = {"seed", "trial", "m_scale", "h_scale", "noise", "initial"}


def run_batch(
    experiment: Union[Experiment, Mapping[str, Any], PathLike],
    trials: Sequence[Mapping[str, Any]],
    backend: Optional[str] = None,
    progress: Union[None, bool, Progress] = None,
    device: Union[None, int, str] = None,
) -> BatchResult:
    """Runs many trials of one experiment together, sharing one copy of M
    (on the GPU, stepped as one batch; ``device`` as in :func:`run`).

    Each trial is a dict of any of: ``seed`` (noise seed; default the
    experiment's), ``trial`` (the trial word of the noise counter; default
    the trial's index, so that trials of one seed differ), ``m_scale`` and
    ``h_scale`` (M and the input multiplied by them; default 1), ``noise``
    (sigma; default the experiment's) and ``initial`` (the initial state,
    N values; default the experiment's). A trial with trial word 0 and the
    experiment's seed is the experiment's own run.
    """
    exp = _as_experiment(experiment)
    seeds, words, ms, hs, noises, initials = [], [], [], [], [], []
    for k, t in enumerate(trials):
        unknown = set(t) - _TRIAL_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise ExperimentError(
                f"key `trials[{k}].{key}` = {t[key]!r}: not a trial key; one of "
                + ", ".join(sorted(_TRIAL_KEYS))
            )
        seeds.append(int(t["seed"]) if "seed" in t else None)
        words.append(int(t.get("trial", k)))
        ms.append(float(t.get("m_scale", 1.0)))
        hs.append(float(t.get("h_scale", 1.0)))
        noises.append(float(t["noise"]) if "noise" in t else None)
        x = t.get("initial")
        initials.append(None if x is None else np.ascontiguousarray(x, dtype=np.float64).ravel())
    seeds = [exp._native.seed if s is None else s for s in seeds]
    noises = [exp._native.noise if v is None else v for v in noises]
    ds = _native.run_batch(
        exp._native, seeds, words, ms, hs, noises, initials, backend, _progress(progress), _device(device)
    )
    results = [_result(d) for d in ds]
    if not results:
        raise ExperimentError("key `trials` = []: at least one trial")
    records = max(len(r.t) for r in results)
    longest = max(results, key=lambda r: len(r.t))

    def pad(a: np.ndarray) -> np.ndarray:
        if a.shape[0] == records:
            return a
        out = np.full((records,) + a.shape[1:], np.nan, dtype=a.dtype)
        out[: a.shape[0]] = a
        return out

    return BatchResult(
        t=longest.t,
        rates=np.stack([pad(r.rates) for r in results]),
        metrics={k: np.stack([pad(r.metrics[k]) for r in results]) for k in longest.metrics},
        final_state=np.stack([r.final_state for r in results]),
        diverged=[d["divergence"] for d in ds],
        backend=results[0].backend,
        adapter=results[0].adapter,
        wall_seconds=results[0].wall_seconds,
        results=results,
    )


def read_table(path: PathLike) -> np.ndarray:
    """A CSV file of the outputs (results.csv, summary.csv, drift.csv,
    metrics.csv) as a numpy structured array, one field per column (numbers
    as float64, text as str); use ``pandas.DataFrame(table)`` for a frame."""
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        return np.zeros(0)
    head, body = rows[0], rows[1:]
    cols = []
    for j in range(len(head)):
        col = [r[j] if j < len(r) else "" for r in body]
        try:
            cols.append(np.array([float(v) if v != "" else np.nan for v in col], dtype=np.float64))
        except ValueError:
            cols.append(np.array(col, dtype=str))
    dtype = [(h, c.dtype) for h, c in zip(head, cols)]
    out = np.zeros(len(body), dtype=dtype)
    for h, c in zip(head, cols):
        out[h] = c
    return out


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: its folder and tables (numpy structured arrays):
    ``results`` (one row per run), ``summary`` (one per grid point) and
    ``drift`` (rings: the bump's drift over time; None otherwise)."""

    out: Path
    name: str
    keys: List[str]
    ran: int
    skipped: int
    batches: int
    seconds: float
    results: np.ndarray
    summary: np.ndarray
    drift: Optional[np.ndarray]


def sweep(
    sweep: Union[PathLike, Mapping[str, Any]],
    out: Optional[PathLike] = None,
    shard: Optional[str] = None,
    resume: bool = False,
    backend: Optional[str] = None,
    progress: Union[None, bool, Progress] = None,
    base_dir: PathLike = ".",
    name: str = "sweep",
    device: Union[None, int, str] = None,
    devices: Union[None, str, Sequence[Union[int, str]]] = None,
) -> SweepResult:
    """Runs a sweep (``attractor sweep``): a grid of experiments, seeded
    trials, retention times, from a sweep file or a dict of its tables
    (``{"base": "examples/ring_memory.toml", "trials": 8, "grid": {...},
    "retention": {...}}``, ``base`` taken from ``base_dir``, the sweep
    called ``name``, its default folder runs/<name>). ``shard`` is
    "K/N" (every N-th grid point from K) or "slurm" (K and N from the job
    array); ``resume`` continues an interrupted sweep in ``out``. Results
    are appended as runs finish, so an interrupted sweep (Ctrl-C included)
    keeps what it did. ``device`` chooses the GPU adapter as in
    :func:`run`; ``devices`` (``"all"``, or a list such as ``[0, 1]``) runs
    batches on several adapters at once, each from its own thread, with
    the rows one adapter would give."""
    import tempfile

    written: Optional[str] = None
    if isinstance(sweep, Mapping):
        d = dict(sweep)
        if "base" in d:
            d["base"] = os.path.abspath(os.path.join(os.fspath(base_dir), os.fspath(d["base"])))
        try:
            text = _native.json_to_toml(json.dumps(d, default=_jsonable))
        except TypeError as e:
            raise ExperimentError(f"not a sweep table: {e}") from None
        written = tempfile.mkdtemp(prefix="attractor-sweep-")
        path = os.path.join(written, f"{name}.toml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        path = os.fspath(sweep)
    try:
        d = _native.sweep(
            path,
            None if out is None else os.fspath(out),
            shard,
            resume,
            backend,
            _progress(progress),
            _device(device),
            None if devices is None else devices if isinstance(devices, str) else ",".join(map(str, devices)),
        )
    finally:
        if written is not None:
            import shutil

            shutil.rmtree(written, ignore_errors=True)
    folder = Path(d["out"])
    drift = folder / "drift.csv"
    return SweepResult(
        out=folder,
        name=d["name"],
        keys=list(d["keys"]),
        ran=d["ran"],
        skipped=d["skipped"],
        batches=d["batches"],
        seconds=d["seconds"],
        results=read_table(folder / "results.csv"),
        summary=read_table(folder / "summary.csv"),
        drift=read_table(drift) if drift.exists() else None,
    )


@dataclass(frozen=True)
class Modes:
    """The eigen-analysis of M (``attractor modes``), largest real part
    first: eigenvalues (complex), their multiplicities, gains 1 / (1 -
    lambda) (nan for an integrator), time constants tau / |1 - Re lambda|
    (nan for an integrator), periods (nan for real modes), regimes
    ("decaying", "integrator", "growing"), the linear steady state of
    each input epoch (None where there is none), the spectral radius
    max |lambda| and, for random weights, the circular law's radius |g|
    (None otherwise)."""

    eigenvalues: np.ndarray
    multiplicity: np.ndarray
    gains: np.ndarray
    time_constants: np.ndarray
    periods: np.ndarray
    regimes: np.ndarray
    steady_states: List[Optional[np.ndarray]]
    spectral_radius: Optional[float]
    circular_law: Optional[float]
    report: Dict[str, Any]


def modes(experiment: Union[Experiment, Mapping[str, Any], PathLike]) -> Modes:
    """The eigenmodes of the experiment's M, as arrays."""
    exp = _as_experiment(experiment)
    r = json.loads(_native.modes_json(exp._native))
    ms = r["modes"]
    nan = float("nan")

    def opt(v: Optional[float]) -> float:
        return nan if v is None else v

    return Modes(
        eigenvalues=np.array([complex(m["eigenvalue_re"], m["eigenvalue_im"]) for m in ms], dtype=complex),
        multiplicity=np.array([m["multiplicity"] for m in ms], dtype=np.int64),
        gains=np.array(
            [nan if m["gain"] is None else complex(m["gain"], m["gain_im"]) for m in ms], dtype=complex
        ),
        time_constants=np.array([opt(m["time_constant"]) for m in ms], dtype=float),
        periods=np.array([opt(m["period"]) for m in ms], dtype=float),
        regimes=np.array([m["regime"] for m in ms], dtype=object),
        steady_states=[None if s["values"] is None else np.array(s["values"]) for s in r["steady_states"]],
        spectral_radius=r.get("spectral_radius"),
        circular_law=r.get("circular_law"),
        report=r,
    )


def devices() -> List[Dict[str, Any]]:
    """The GPU adapters wgpu sees, the one ``auto`` and ``gpu`` use first;
    empty when there is none (then ``auto`` runs on the CPU)."""
    return json.loads(_native.devices_json())
