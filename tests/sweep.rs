//! Sweeps end to end: grid and shards, merge, kill and resume, retention
//! times against theory, GPU == CPU, bad sweep files.

use attractor::sweep::{cartesian, Shard};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_attractor"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let mut v: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    v.sort_by_key(|r| (r[0].parse::<usize>().unwrap(), r[r.len() - 1].clone()));
    v
}

/// A sweep over a small ring, written into `dir` with its base experiment.
fn write_sweep(dir: &Path, n: usize, lambdas: &[f64], trials: u32) -> PathBuf {
    std::fs::write(
        dir.join("base.toml"),
        format!(
            r#"
            [network]
            n = {n}
            tau = 0.01
            activation = {{ kind = "clip", min = 0.0, max = 1.0 }}
            weights = {{ kind = "ring", lambda1 = 2.1 }}
            [[input]]
            end = 0.05
            kind = "bump"
            c = 1.0
            epsilon = 0.2
            theta = 0.5
            [simulation]
            duration = 0.2
            dt = 0.0005
            noise = 0.05
            seed = 3
            record_every = 10
            "#
        ),
    )
    .unwrap();
    let list: Vec<String> = lambdas.iter().map(|l| format!("{l:?}")).collect();
    let path = dir.join("sweep.toml");
    std::fs::write(
        &path,
        format!(
            r#"
            base = "base.toml"
            trials = {trials}
            [grid]
            "network.weights.lambda1" = [{}]
            "simulation.noise" = [0.02, 0.05]
            [retention]
            metric = "bump_amplitude"
            threshold = 0.5
            "#,
            list.join(", ")
        ),
    )
    .unwrap();
    path
}

/// Gives the base ring a uniform term, so that each lambda1 changes the
/// shape of M (not only its scale) and runs in a batch of its own: rows then
/// reach results.csv a few at a time, and a kill lands mid-sweep.
fn one_batch_per_lambda(dir: &Path) {
    let p = dir.join("base.toml");
    let t = std::fs::read_to_string(&p)
        .unwrap()
        .replace("lambda1 = 2.1 }", "lambda0 = 0.1, lambda1 = 2.1 }");
    std::fs::write(p, t).unwrap();
}

fn sweep(path: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("sweep")
        .arg(path)
        .arg("--out")
        .arg(out)
        .arg("-q")
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn grid_and_shards_cover_every_point_once() {
    let v = |xs: &[i64]| {
        xs.iter()
            .map(|&x| toml::Value::Integer(x))
            .collect::<Vec<_>>()
    };
    let points = cartesian(&[v(&[1, 2, 3]), v(&[10, 20]), v(&[7, 8, 9, 10])]);
    assert_eq!(points.len(), 24);
    assert_eq!(
        points
            .iter()
            .map(|p| format!("{p:?}"))
            .collect::<HashSet<_>>()
            .len(),
        24
    );
    // The last key varies fastest.
    assert_eq!(points[1], v(&[1, 10, 8]));
    for n in 1..=7 {
        let mut seen = vec![0; points.len()];
        for k in 0..n {
            let s = Shard::parse(&format!("{k}/{n}")).unwrap();
            for (p, c) in seen.iter_mut().enumerate() {
                if s.owns(p) {
                    *c += 1;
                }
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "{n} shards: {seen:?}");
    }
    for bad in ["4/4", "1", "a/2", "0/0"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn merged_shards_equal_the_unsharded_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let s = write_sweep(dir.path(), 64, &[1.9, 2.05, 2.2], 2);
    let all = dir.path().join("all");
    let o = sweep(&s, &all, &["--backend", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(rows(&all.join("results.csv")).len(), 12);
    let mut shards = Vec::new();
    for k in 0..3 {
        let out = dir.path().join(format!("s{k}"));
        let o = sweep(
            &s,
            &out,
            &["--backend", "cpu", "--shard", &format!("{k}/3")],
        );
        assert!(o.status.success(), "{}", text(&o));
        shards.push(out);
    }
    // The Slurm form: task 1 of 3 is shard 1/3.
    let slurm = dir.path().join("slurm");
    let o = bin()
        .args(["sweep"])
        .arg(&s)
        .arg("--out")
        .arg(&slurm)
        .args(["-q", "--backend", "cpu", "--shard", "slurm"])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        rows(&slurm.join("results.csv")),
        rows(&shards[1].join("results.csv"))
    );

    let merged = dir.path().join("merged");
    let o = bin()
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        rows(&merged.join("results.csv")),
        rows(&all.join("results.csv"))
    );
    for f in ["summary.csv", "retention.png", "drift.png"] {
        assert!(merged.join(f).exists(), "{f}");
    }
    // Shards of another sweep (other trials) are refused.
    let other = tempfile::tempdir().unwrap();
    let s2 = write_sweep(other.path(), 64, &[1.9, 2.05, 2.2], 1);
    let o2 = other.path().join("s0");
    assert!(sweep(&s2, &o2, &["--backend", "cpu", "--shard", "0/3"])
        .status
        .success());
    let o = bin()
        .arg("merge")
        .arg(&shards[1])
        .arg(&o2)
        .arg("--out")
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("another sweep"), "{}", text(&o));
}

#[test]
fn kill_and_resume_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Slow enough to be killed mid-way: a ring of 200k neurons, 12 grid points.
    let lambdas: Vec<f64> = (0..6).map(|k| 1.9 + 0.05 * k as f64).collect();
    let s = write_sweep(dir.path(), 200_000, &lambdas, 2);
    one_batch_per_lambda(dir.path());
    let whole = dir.path().join("whole");
    let o = sweep(&s, &whole, &["--backend", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    let want = rows(&whole.join("results.csv"));
    assert_eq!(want.len(), 24);

    let out = dir.path().join("killed");
    let mut child = bin()
        .arg("sweep")
        .arg(&s)
        .arg("--out")
        .arg(&out)
        .args(["-q", "--backend", "cpu"])
        .spawn()
        .unwrap();
    let results = out.join("results.csv");
    let start = std::time::Instant::now();
    loop {
        let n = std::fs::read_to_string(&results)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n >= 5 || start.elapsed().as_secs() > 120 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = rows(&results);
    assert!(
        !before.is_empty() && before.len() < 24,
        "killed mid-sweep: {} rows",
        before.len()
    );
    // A crash in the middle of a write leaves a torn line.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&results)
        .unwrap()
        .write_all(b"11,2.15,0.05,1,4,0.0")
        .unwrap();
    // Without --resume the folder is refused; with it the sweep completes.
    let o = sweep(&s, &out, &["--backend", "cpu"]);
    assert!(
        !o.status.success() && text(&o).contains("--resume"),
        "{}",
        text(&o)
    );
    let o = sweep(&s, &out, &["--backend", "cpu", "--resume"]);
    assert!(o.status.success(), "{}", text(&o));
    let after = rows(&results);
    assert_eq!(
        after, want,
        "the resumed sweep equals the uninterrupted one"
    );
    // The rows finished before the kill are untouched.
    for r in &before {
        assert!(after.contains(r));
    }
}

#[test]
fn one_output_folder_one_writer() {
    let dir = tempfile::tempdir().unwrap();
    let lambdas: Vec<f64> = (0..6).map(|k| 1.9 + 0.05 * k as f64).collect();
    let s = write_sweep(dir.path(), 200_000, &lambdas, 2);
    one_batch_per_lambda(dir.path());
    let out = dir.path().join("o");
    let mut first = bin()
        .arg("sweep")
        .arg(&s)
        .arg("--out")
        .arg(&out)
        .args(["-q", "--backend", "cpu"])
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !out.join("results.csv").exists() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let o = sweep(&s, &out, &["--backend", "cpu", "--resume"]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("another attractor process"),
        "{}",
        text(&o)
    );
}

#[test]
fn retention_of_leaky_integrators_is_tau_ln2_over_one_minus_lambda() {
    // A leaky integrator with lambda < 1 forgets with time constant
    // tau / (1 - lambda): to half its value in tau ln 2 / (1 - lambda).
    // Records every step (0.1 ms) and linear interpolation between them:
    // the crossing is found to ~(dt)^2 / tau_forget, far below 1e-6 s.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("leaky.toml"),
        r#"
        [network]
        n = 1
        tau = 0.01
        weights = { kind = "diagonal", values = [0.5] }
        [[input]]
        end = 0.05
        kind = "uniform"
        value = 1.0
        [simulation]
        duration = 0.5
        dt = 0.0001
        method = "rk4"
        "#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        r#"
        base = "leaky.toml"
        [grid]
        "network.weights.values" = [[0.5], [0.8], [0.9]]
        [retention]
        metric = "mean_rate"
        threshold = 0.5
        "#,
    )
    .unwrap();
    let out = dir.path().join("o");
    let o = sweep(&dir.path().join("s.toml"), &out, &["--backend", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = rows(&out.join("results.csv"));
    for (row, lambda) in r.iter().zip([0.5, 0.8, 0.9]) {
        let got: f64 = row[4].parse().unwrap();
        let want = 0.01 * 2f64.ln() / (1.0 - lambda);
        assert!(
            (got - want).abs() < 1e-6,
            "lambda {lambda}: {got} vs {want}"
        );
    }
}

#[test]
fn gpu_and_cpu_sweeps_agree() {
    let dir = tempfile::tempdir().unwrap();
    let s = write_sweep(dir.path(), 64, &[1.9, 2.2], 2);
    let (c, g) = (dir.path().join("c"), dir.path().join("g"));
    let o = sweep(&s, &c, &["--backend", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = sweep(&s, &g, &["--backend", "gpu"]);
    assert!(
        o.status.success(),
        "the GPU tests need an adapter: {}",
        text(&o)
    );
    let (rc, rg) = (rows(&c.join("results.csv")), rows(&g.join("results.csv")));
    assert_eq!(rc.len(), rg.len());
    for (a, b) in rc.iter().zip(&rg) {
        for (x, y) in a.iter().zip(b) {
            match (x.parse::<f64>(), y.parse::<f64>()) {
                // f32 on the GPU: retention times are found on the 5 ms record
                // grid by interpolation, the metrics to f32 rounding.
                (Ok(x), Ok(y)) if x.is_finite() => {
                    assert!((x - y).abs() <= 1e-3 * x.abs().max(1.0), "{a:?} vs {b:?}")
                }
                _ => assert_eq!(x, y),
            }
        }
    }
}

#[test]
fn bad_sweep_files_fail_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let s = write_sweep(dir.path(), 64, &[1.9], 1);
    let base = std::fs::read_to_string(&s).unwrap();
    for (replace, with, needles) in [
        (
            "\"simulation.noise\" = [0.02, 0.05]",
            "\"simulation.nosie\" = [0.1]",
            vec!["simulation", "nosie"],
        ),
        (
            "\"simulation.noise\" = [0.02, 0.05]",
            "\"simulation.noise\" = []",
            vec!["simulation.noise", "at least one value"],
        ),
        (
            "\"simulation.noise\" = [0.02, 0.05]",
            "\"simulation.noise\" = [\"loud\"]",
            vec!["simulation.noise", "loud"],
        ),
        (
            "\"simulation.noise\" = [0.02, 0.05]",
            "\"simulation.noise\" = 0.1",
            vec!["simulation.noise", "list"],
        ),
        (
            "metric = \"bump_amplitude\"",
            "metric = \"overlap_0\"",
            vec!["retention.metric", "overlap_0", "bump_amplitude"],
        ),
        ("trials = 1", "trials = 0", vec!["trials", "at least 1"]),
        (
            "\"simulation.noise\" = [0.02, 0.05]",
            "\"simulation.backend\" = [\"cpu\", \"gpu\"]",
            vec!["simulation.backend", "one backend", "--backend"],
        ),
        (
            "\"simulation.noise\" = [0.02, 0.05]",
            "\"simulation.device\" = [0, 1]",
            vec!["simulation.device", "--devices"],
        ),
    ] {
        let p = dir.path().join("bad.toml");
        std::fs::write(&p, base.replace(replace, with)).unwrap();
        let out = dir.path().join("bad-out");
        let o = sweep(&p, &out, &["--backend", "cpu"]);
        assert!(!o.status.success(), "{with}");
        for n in needles {
            assert!(text(&o).contains(n), "{with}: {}", text(&o));
        }
        assert!(!out.join("results.csv").exists(), "nothing runs for {with}");
    }
}

/// Runs examples/sweeps/`name` on the CPU; returns its output folder and a
/// reader of its summary.csv.
fn example_sweep(name: &str) -> (tempfile::TempDir, csv::Reader<std::fs::File>) {
    let out = tempfile::tempdir().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/sweeps")
        .join(name);
    let o = sweep(&path, out.path(), &["--backend", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = csv::Reader::from_path(out.path().join("summary.csv")).unwrap();
    (out, r)
}

#[test]
fn example_ring_sweep_shows_diffusion_slowing_with_n() {
    let (_out, mut r) = example_sweep("ring_retention.toml");
    let s: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    // Columns: point, lambda1, noise, n, trials, retention_mean, sd, never, diffusion.
    for row in &s {
        let (l1, retention) = (row[1].parse::<f64>().unwrap(), row[5].as_str());
        assert_eq!(l1 > 2.0, retention == "inf", "{row:?}");
    }
    // For every retained (lambda1, noise), D at N = 1024 is below D at N = 256.
    for pair in s.chunks(2) {
        if pair[0][8].is_empty() {
            continue;
        }
        let (d256, d1024): (f64, f64) = (pair[0][8].parse().unwrap(), pair[1][8].parse().unwrap());
        assert!(d1024 < d256, "{pair:?}");
    }
}

/// The Mexican-hat sheet keeps its bump under noise at every point, and the
/// bump's diffusion coefficient grows with the noise at each width.
#[test]
fn example_mexican_hat_sweep_diffuses_more_with_more_noise() {
    let (out, mut r) = example_sweep("mexican_hat_drift.toml");
    assert!(out.path().join("drift.png").exists());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let (noise, sigma, retention, d) = (
        col("simulation.noise"),
        col("network.weights.sigma"),
        col("retention_mean"),
        col("diffusion"),
    );
    let rows: Vec<(f64, f64, f64)> = r
        .records()
        .map(|x| {
            let x = x.unwrap();
            assert_eq!(&x[retention], "inf", "{x:?}");
            (
                x[noise].parse().unwrap(),
                x[sigma].parse().unwrap(),
                x[d].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 6);
    for &(n1, s1, d1) in &rows {
        for &(n2, s2, d2) in &rows {
            if s1 == s2 && n1 < n2 {
                assert!(d1 < d2, "sigma {s1}: D {d1} at noise {n1}, {d2} at {n2}");
            }
        }
    }
}

#[test]
fn example_capacity_sweep_collapses_above_0_14() {
    let (out, mut r) = example_sweep("hopfield_capacity.toml");
    assert!(out.path().join("finals.png").exists());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let (pc, mc) = (
        h.iter()
            .position(|x| x == "network.weights.patterns")
            .unwrap(),
        h.iter().position(|x| x == "final_overlap_0_mean").unwrap(),
    );
    for rec in r.records() {
        let rec = rec.unwrap();
        let (p, m): (usize, f64) = (rec[pc].parse().unwrap(), rec[mc].parse().unwrap());
        // N = 1000: below the capacity 0.138 recall holds, above it fails.
        if p <= 140 {
            assert!(m > 0.95, "P = {p}: {m}");
        } else {
            assert!(m < 0.6, "P = {p}: {m}");
        }
    }
}

#[test]
fn points_that_differ_by_a_scale_of_m_share_a_batch() {
    // The base ring has lambda0 = 0, so lambda1 only scales M; noise is per
    // trial: the 3 x 2 points x 2 trials form one batch. A grid over N
    // changes M's shape: one batch per N.
    let dir = tempfile::tempdir().unwrap();
    let s = write_sweep(dir.path(), 64, &[1.9, 2.05, 2.2], 2);
    let out = dir.path().join("o");
    let o = bin()
        .arg("sweep")
        .arg(&s)
        .arg("--out")
        .arg(&out)
        .args(["--backend", "cpu"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("12 runs in 1 batches"), "{}", text(&o));
    let text_n = std::fs::read_to_string(&s).unwrap().replace(
        "\"simulation.noise\" = [0.02, 0.05]",
        "\"network.n\" = [64, 128]",
    );
    std::fs::write(&s, text_n).unwrap();
    let out = dir.path().join("n");
    let o = bin()
        .arg("sweep")
        .arg(&s)
        .arg("--out")
        .arg(&out)
        .args(["--backend", "cpu"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // Points alternate N = 64, 128 in grid order: consecutive points differ in shape.
    assert!(text(&o).contains("12 runs in 6 batches"), "{}", text(&o));
    // A point's rows do not depend on its batch: lambda1 = 2.2 swept alone
    // (its own batch of 4 trials) gives the rows of points 4 and 5 above.
    let big = rows(&dir.path().join("o/results.csv"));
    let alone_dir = tempfile::tempdir().unwrap();
    let s2 = write_sweep(alone_dir.path(), 64, &[2.2], 2);
    let o = sweep(&s2, &alone_dir.path().join("o"), &["--backend", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    let alone = rows(&alone_dir.path().join("o/results.csv"));
    assert_eq!(alone.len(), 4);
    for r in &alone {
        let p: usize = r[0].parse().unwrap();
        let twin = big
            .iter()
            .find(|b| b[0] == (p + 4).to_string() && b[3] == r[3])
            .unwrap();
        assert_eq!(r[1..], twin[1..], "point {p} trial {}", r[3]);
    }
}

/// A sweep reads its base experiment and `.npy` files once, however many
/// grid points and trials it builds: 3 points × 3 trials of a low-rank
/// network whose U, V and initial state are files read 3 times in all.
#[test]
fn a_sweep_reads_each_file_once() {
    use attractor::sim::cpu::CpuBackend;
    use attractor::sweep::{self, Sweep};
    let dir = tempfile::tempdir().unwrap();
    let n = 8;
    let u: Vec<f32> = (0..2 * n).map(|k| 0.1 * (k % 3) as f32).collect();
    let v: Vec<f32> = (0..2 * n).map(|k| 0.05 * (k % 5) as f32).collect();
    let x0: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
    for (name, shape, data) in [
        ("u.npy", vec![n as u64, 2], &u),
        ("v.npy", vec![n as u64, 2], &v),
        ("x0.npy", vec![n as u64], &x0),
    ] {
        attractor::output::write_npy_f32(&dir.path().join(name), &shape, data).unwrap();
    }
    std::fs::write(
        dir.path().join("base.toml"),
        r#"
        [network]
        n = 8
        tau = 0.01
        weights = { kind = "low_rank", u = "u.npy", v = "v.npy" }
        [initial]
        kind = "file"
        path = "x0.npy"
        [simulation]
        duration = 0.01
        dt = 0.001
        "#,
    )
    .unwrap();
    let path = dir.path().join("sweep.toml");
    std::fs::write(
        &path,
        r#"
        base = "base.toml"
        trials = 3
        [grid]
        "simulation.noise" = [0.0, 0.01, 0.02]
        "#,
    )
    .unwrap();
    let sw = Sweep::load(&path).unwrap();
    assert_eq!(
        sw.files_read(),
        3,
        "loading builds every point from one read"
    );
    let mut rows = 0;
    let report = sweep::run(
        &sw,
        Shard::ALL,
        &mut CpuBackend,
        &HashSet::new(),
        &mut |_| {
            rows += 1;
            Ok(())
        },
        &mut |_| {},
        &attractor::sim::Stop::default(),
    )
    .unwrap();
    assert_eq!((report.ran, rows), (9, 9));
    assert_eq!(sw.files_read(), 3, "running 9 trials read no file again");
    // A file changed after loading does not change the sweep's runs.
    attractor::output::write_npy_f32(&dir.path().join("x0.npy"), &[n as u64], &[9.0; 8]).unwrap();
    assert_eq!(sw.experiment(2, 1).unwrap().initial[1], 1.0 / 8.0);
}

/// Keeps the rows of `file` in `dir` whose grid point `keep` accepts.
fn keep_rows(dir: &Path, file: &str, keep: impl Fn(usize) -> bool) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let mut kept = vec![lines.next().unwrap().to_string()];
    kept.extend(
        lines
            .filter(|l| keep(l.split(',').next().unwrap().parse().unwrap()))
            .map(String::from),
    );
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
}

#[test]
fn a_sweep_over_two_devices_gives_the_one_device_rows() {
    let dir = tempfile::tempdir().unwrap();
    // Three shapes of M (three batches), four trials each.
    let s = write_sweep(dir.path(), 64, &[1.9, 2.05, 2.2], 2);
    one_batch_per_lambda(dir.path());
    // Rows fully sorted: two devices write them in the order batches end.
    let sorted = |p: &Path| {
        let mut v = rows(p);
        v.sort();
        v
    };
    // Without -q: the note naming the devices and the summary line.
    let loud = |out: &Path, extra: &[&str]| {
        bin()
            .arg("sweep")
            .arg(&s)
            .arg("--out")
            .arg(out)
            .args(["--backend", "gpu"])
            .args(extra)
            .output()
            .unwrap()
    };
    let one = dir.path().join("one");
    let o = sweep(&s, &one, &["--backend", "gpu"]);
    assert!(
        o.status.success(),
        "the GPU tests need an adapter: {}",
        text(&o)
    );
    let want = sorted(&one.join("results.csv"));
    assert_eq!(want.len(), 12);

    // Two devices on the one adapter: the same rows, bit for bit (the same
    // kernels step each batch; which device ran it does not matter).
    let two = dir.path().join("two");
    let o = loud(&two, &["--devices", "0,0"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("on 2 devices"), "{}", text(&o));
    assert_eq!(sorted(&two.join("results.csv")), want);
    assert_eq!(
        sorted(&two.join("drift.csv")),
        sorted(&one.join("drift.csv"))
    );
    assert!(two.join("summary.csv").exists());

    // --resume: the rows of points 2 to 5 lost, the two devices run only
    // those again.
    for file in ["results.csv", "drift.csv"] {
        keep_rows(&two, file, |p| p < 2);
    }
    let o = loud(&two, &["--devices", "0,0", "--resume"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("8 runs in") && text(&o).contains("4 already done"),
        "{}",
        text(&o)
    );
    assert_eq!(sorted(&two.join("results.csv")), want);

    // --shard: the shard's rows of the one-device sweep.
    let shard = dir.path().join("shard");
    let o = sweep(
        &s,
        &shard,
        &["--backend", "gpu", "--devices", "0,0", "--shard", "1/2"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let odd: Vec<Vec<String>> = want
        .iter()
        .filter(|r| r[0].parse::<usize>().unwrap() % 2 == 1)
        .cloned()
        .collect();
    assert_eq!(sorted(&shard.join("results.csv")), odd);

    // Bad lists name --devices; with --device too, the two are refused.
    let o = sweep(
        &s,
        &dir.path().join("bad"),
        &["--backend", "gpu", "--devices", "0,9"],
    );
    assert!(
        !o.status.success() && text(&o).contains("`--devices` = \"9\""),
        "{}",
        text(&o)
    );
    let o = bin()
        .arg("sweep")
        .arg(&s)
        .arg("--out")
        .arg(dir.path().join("bad2"))
        .args(["--devices", "0", "--backend", "cpu"])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("the backend is cpu"),
        "{}",
        text(&o)
    );
}
