//! The segment table of a network of several populations (binding 31,
//! read under `FLAG_SEGMENTS`): one [`Segment`] per run of neurons that
//! step with the same constants, each population's, split where its
//! neurons' time constants differ.

use super::kernels::{dynamics_code, Segment};
use crate::model::Experiment;

/// The segments of `exp`'s populations, in the order of their neurons;
/// empty for a network of one population (the step then reads
/// `StepParams` alone).
pub fn table(exp: &Experiment) -> Vec<Segment> {
    let dt = exp.simulation.dt;
    let mut out = Vec::new();
    for p in &exp.network.populations {
        let (act_kind, act_p0, act_p1) = p.activation.gpu_params();
        let tau_of = |i: usize| p.taus.as_ref().map_or(p.tau, |t| t[i]);
        let mut i = 0;
        while i < p.n {
            let tau = tau_of(i);
            let mut end = i + 1;
            while end < p.n && tau_of(end) == tau {
                end += 1;
            }
            let a = dt / tau;
            out.push(Segment {
                end: (p.start + end) as u32,
                dynamics: dynamics_code(p.dynamics),
                act_kind,
                act_p0,
                act_p1,
                a: a as f32,
                decay: (-a).exp() as f32,
                sqrt_a: a.sqrt() as f32,
                noise: p.noise.map_or(-1.0, |s| s as f32),
            });
            i = end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_equal_time_constants_share_a_segment() {
        let toml = r#"
[[population]]
name = "E"
n = 3
tau = 0.02
activation = { kind = "relu" }
[[population]]
name = "I"
n = 4
tau = [0.01, 0.01, 0.005, 0.01]
dynamics = "current"
noise = 0.5
[[projection]]
from = "E"
to = "I"
weights = { kind = "uniform", value = 1.0 }
[simulation]
dt = 0.001
duration = 0.01
"#;
        let exp = Experiment::from_toml(toml, std::path::Path::new("."), "t", &[]).unwrap();
        let t = table(&exp);
        // E in one segment; I split where its third neuron's tau differs.
        assert_eq!(t.iter().map(|s| s.end).collect::<Vec<_>>(), [3, 5, 6, 7]);
        assert_eq!(t[0].noise, -1.0);
        assert_eq!(t[1].noise, 0.5);
        assert_eq!(
            t[1].dynamics,
            dynamics_code(crate::model::Dynamics::Current)
        );
        assert!((t[0].a - 0.05).abs() < 1e-7);
        assert!((t[2].a - 0.2).abs() < 1e-7);
        assert!((t[2].sqrt_a - 0.2f32.sqrt()).abs() < 1e-7);
    }
}
