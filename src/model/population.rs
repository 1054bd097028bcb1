//! Populations: a network of several groups of neurons (`[[population]]`),
//! each with its own time constant, dynamics, activation and noise, stored
//! one after another in the state vector and coupled by one block matrix M
//! (the `[[projection]]` tables, block (to, from) of M each).

use super::{Activation, Dynamics};
use std::ops::Range;

/// One population: its neurons are `start..start + n` of the network's.
#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    /// Its name (`E`, `I`, …): metrics `E.mean_rate`, outputs `rates_E.npy`.
    pub name: String,
    /// Index of its first neuron in the network.
    pub start: usize,
    /// Its number of neurons.
    pub n: usize,
    /// Its time constant in seconds (its first neuron's when they differ).
    pub tau: f64,
    /// Each neuron's time constant, when they differ (`None`: `tau`).
    pub taus: Option<Vec<f64>>,
    /// Rate or current form.
    pub dynamics: Dynamics,
    /// Its activation F.
    pub activation: Activation,
    /// Its noise sigma; `None`: the run's (`simulation.noise`, or the
    /// trial's in a sweep over noise).
    pub noise: Option<f64>,
    /// Whether its projection onto itself is a ring (its neurons have
    /// preferred angles theta_i = -pi + 2 pi i / n: its bump is a metric).
    pub ring: bool,
}

impl Population {
    /// Its neurons' indices in the network.
    pub fn range(&self) -> Range<usize> {
        self.start..self.start + self.n
    }
}

/// The neurons `range` step with `dynamics` and `activation`.
#[derive(Clone, Debug, PartialEq)]
pub struct NeuronKind {
    /// The neurons.
    pub range: Range<usize>,
    /// Their dynamics.
    pub dynamics: Dynamics,
    /// Their activation.
    pub activation: Activation,
}

impl super::Network {
    /// The dynamics and activation of the network's neurons: one run per
    /// population, or one over all neurons for a network of one.
    pub fn kinds(&self) -> Vec<NeuronKind> {
        if self.populations.is_empty() {
            return vec![NeuronKind {
                range: 0..self.n,
                dynamics: self.dynamics,
                activation: self.activation,
            }];
        }
        self.populations
            .iter()
            .map(|p| NeuronKind {
                range: p.range(),
                dynamics: p.dynamics,
                activation: p.activation,
            })
            .collect()
    }

    /// Rates from states in place: F(x) over the neurons of current
    /// dynamics, x itself over those of rate dynamics. `x` holds whole
    /// trials of N one after another.
    pub fn rates_in_place(&self, x: &mut [f32]) {
        let kinds = self.kinds();
        for trial in x.chunks_mut(self.n.max(1)) {
            for k in kinds.iter().filter(|k| k.dynamics == Dynamics::Current) {
                for v in &mut trial[k.range.clone()] {
                    *v = k.activation.apply(*v);
                }
            }
        }
    }
}

/// The population each neuron of `populations` belongs to, as the index of
/// the population; `None` for a one-population network (no table).
pub fn population_of(populations: &[Population], i: usize) -> Option<usize> {
    populations.iter().position(|p| p.range().contains(&i))
}

/// The per-neuron time constants of a network of `n` neurons: each
/// population's tau over its neurons, or `tau` everywhere for one population.
pub fn neuron_taus(populations: &[Population], n: usize, tau: f64) -> Vec<f64> {
    let mut taus = vec![tau; n];
    for p in populations {
        match &p.taus {
            Some(t) => taus[p.range()].copy_from_slice(t),
            None => taus[p.range()].fill(p.tau),
        }
    }
    taus
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pop(name: &str, start: usize, n: usize, tau: f64) -> Population {
        Population {
            name: name.into(),
            start,
            n,
            tau,
            taus: None,
            dynamics: Dynamics::Rate,
            activation: Activation::Linear {},
            noise: None,
            ring: false,
        }
    }

    #[test]
    fn neurons_map_to_their_population() {
        let pops = [pop("E", 0, 3, 0.02), pop("I", 3, 2, 0.01)];
        assert_eq!(population_of(&pops, 0), Some(0));
        assert_eq!(population_of(&pops, 2), Some(0));
        assert_eq!(population_of(&pops, 3), Some(1));
        assert_eq!(population_of(&pops, 5), None);
        assert_eq!(
            neuron_taus(&pops, 5, 1.0),
            vec![0.02, 0.02, 0.02, 0.01, 0.01]
        );
    }
}
