"""Pattern completion in a continuous Hopfield network (N = 1000, P = 50):
a cue with a quarter of its signs flipped is completed while the Lyapunov
energy falls. Pictures (with matplotlib) go to the
current folder: python python/examples/pattern_completion.py"""

import numpy as np
import attractor
from pathlib import Path

exp = attractor.Experiment.from_toml(Path(__file__).parents[2] / "examples" / "pattern_completion.toml")
for flip in (0.25, 0.45):
    r = attractor.run(exp.with_overrides({"initial.flip": flip}), backend="cpu")
    m = r.metrics
    e = m["energy"]
    print(f"flip {flip}: overlap {m['overlap_0'][0]:.3f} -> {m['overlap_0'][-1]:.3f}, "
          f"energy {e[0]:.2f} -> {e[-1]:.2f}, monotone: {bool(np.all(np.diff(e) <= 1e-9))}")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        continue
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    ax[0].plot(r.t, m["overlap_0"]); ax[0].set_xlabel("t (s)"); ax[0].set_ylabel("overlap with pattern 0")
    ax[1].plot(r.t, e); ax[1].set_xlabel("t (s)"); ax[1].set_ylabel("energy")
    fig.tight_layout(); fig.savefig(f"pattern_completion_{flip}.png")
