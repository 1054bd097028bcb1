//! Every buffer of a run, as one named struct, and the bind groups over them
//! (made in advance, two per operand ping-pong).

use super::context::GpuContext;
use super::kernels::{Family, Segment, StepParams, TrialParams};
use super::operator::{storage_buffer, GpuOperator};
use crate::analysis::metrics::Metrics;
use crate::error::Result;
use crate::model::Experiment;
use crate::sim::Trial;
use wgpu::util::DeviceExt;

/// Most bytes of per-dispatch parameters in one submit.
pub const MAX_PARAM_BYTES: u64 = 8 << 20;

/// The buffers of a batch of B trials of N neurons. State of trial b,
/// neuron i at b N + i (x, y, acc); the operand at b n_pad + i.
pub struct Buffers {
    /// The state x.
    pub x: wgpu::Buffer,
    /// The rk4 stage point y (one float when the method has one stage).
    pub y: wgpu::Buffer,
    /// The rk4 accumulator (one float when the method has one stage).
    pub acc: wgpu::Buffer,
    /// The dense family's operand, what M multiplies (the stage point, or F
    /// of it for current dynamics), ping-ponged between two buffers (one
    /// float each for the structured family, which keeps its projections
    /// instead).
    pub operand: [wgpu::Buffer; 2],
    /// The input epochs, epoch e at e N.
    pub h: wgpu::Buffer,
    /// Per trial: 1 + the first step that was not finite, or u32::MAX.
    pub first_bad: wgpu::Buffer,
    /// The trials' `TrialParams`.
    pub trials: wgpu::Buffer,
    /// The structured operator's projections, [B][R] (a Gaussian kernel's
    /// row passes, [B][2R][N]).
    pub proj: wgpu::Buffer,
    /// Partial sums of the projection and metric passes.
    pub partials: wgpu::Buffer,
    /// The record's metric sums, [B][K].
    pub sums: wgpu::Buffer,
    /// The per-dispatch `StepParams`, at dynamic offsets.
    pub params: wgpu::Buffer,
    /// Where the record is copied to be read back.
    pub staging: wgpu::Buffer,
    /// Bound where a family needs a buffer the operator does not have.
    pub dummy: wgpu::Buffer,
    /// The counting build's counters (`COUNTED_SLOTS` per kernel).
    pub counted: wgpu::Buffer,
    /// Sparse M's factored terms' projections, [B][T] (one unread float
    /// when there are none).
    pub factor_proj: wgpu::Buffer,
    /// The populations' segment table (one unread segment for a network
    /// of one population).
    pub segments: wgpu::Buffer,
    /// The populations' metric rows ([`Metrics::population_table`]), the
    /// metric pass's table; `None` for one population.
    pub population_table: Option<wgpu::Buffer>,
}

/// Bytes of the counters of the counting build (`counting`: `COUNTED_SLOTS`
/// per kernel, each two words), or of the placeholder bound in their place.
pub const fn counted_bytes(counting: bool) -> u64 {
    if counting {
        super::kernels::MAX_KERNELS as u64 * super::kernels::COUNTED_SLOTS as u64 * 8
    } else {
        8
    }
}

impl Buffers {
    /// Bytes of the buffers.
    pub fn bytes(&self) -> u64 {
        [
            &self.x,
            &self.y,
            &self.acc,
            &self.operand[0],
            &self.operand[1],
            &self.h,
            &self.first_bad,
            &self.trials,
            &self.proj,
            &self.partials,
            &self.sums,
            &self.params,
            &self.staging,
            &self.dummy,
            &self.counted,
            &self.segments,
            &self.factor_proj,
        ]
        .into_iter()
        .chain(&self.population_table)
        .map(wgpu::Buffer::size)
        .sum()
    }

    /// Allocates and fills the buffers of `trials` of `exp`, whose operator
    /// is `dense` or keeps `proj_per_trial` projections per trial (R, or a
    /// Gaussian kernel's 2R row passes of N), whose records reduce `n_sums`
    /// metric sums and whose passes write `n_partials` partial sums in all;
    /// `scope` says what a failure was doing.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scope: &str,
        ctx: &GpuContext,
        exp: &Experiment,
        trials: &[Trial],
        dense: bool,
        proj_per_trial: usize,
        n_sums: u32,
        n_partials: u64,
    ) -> Result<Buffers> {
        let net = &exp.network;
        let n = net.n;
        let n_pad = n.div_ceil(4) * 4;
        let batch = trials.len();
        let x0: Vec<f32> = trials
            .iter()
            .flat_map(|t| t.initial(exp).iter().map(|&v| v as f32))
            .collect();
        let mut operand0 = vec![0.0f32; if dense { batch * n_pad } else { 0 }];
        if dense {
            // The rates: F(x) over current neurons, x over rate neurons.
            let mut rates = x0.clone();
            net.rates_in_place(&mut rates);
            for b in 0..batch {
                operand0[b * n_pad..b * n_pad + n].copy_from_slice(&rates[b * n..(b + 1) * n]);
            }
        }
        let population_table: Vec<f32> = Metrics::shape(net)
            .population_table()
            .iter()
            .map(|&v| v as f32)
            .collect();
        let mut segments = super::segments::table(exp);
        if segments.is_empty() {
            segments.push(Segment::default());
        }
        let trial_params: Vec<TrialParams> = trials.iter().map(trial_params).collect();
        let init = |label: &str, contents: &[u8], usage: wgpu::BufferUsages| {
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage,
                })
        };
        let staged = exp.simulation.method.needs_stage_buffers();
        // The epochs' vectors, then the rows of each played file (rows
        // n_epochs and up, in epoch order: `inputs::StepInputs`).
        let mut h: Vec<f32> = exp
            .inputs
            .iter()
            .flat_map(|e| e.h.iter().map(|&v| v as f32))
            .collect();
        for e in &exp.inputs {
            if let crate::model::Motion::Frames { rows, .. } = &e.motion {
                h.extend(rows.iter().map(|&v| v as f32));
            }
        }
        let uniform = |label, size| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        ctx.scoped(scope, || Buffers {
            x: storage_buffer(ctx, "attractor x", &x0),
            y: storage_buffer(ctx, "attractor y", if staged { &x0 } else { &[] }),
            acc: storage_buffer(ctx, "attractor acc", if staged { &x0 } else { &[] }),
            operand: [
                storage_buffer(ctx, "attractor operand 0", &operand0),
                storage_buffer(ctx, "attractor operand 1", &operand0),
            ],
            h: storage_buffer(ctx, "attractor h", &h),
            first_bad: init(
                "attractor first_bad",
                bytemuck::cast_slice(&vec![u32::MAX; batch]),
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            ),
            trials: init(
                "attractor trials",
                bytemuck::cast_slice(&trial_params),
                wgpu::BufferUsages::STORAGE,
            ),
            proj: storage_buffer(
                ctx,
                "attractor projections",
                &vec![0.0; (proj_per_trial * batch).max(1)],
            ),
            partials: storage_buffer(
                ctx,
                "attractor partial sums",
                &vec![0.0; n_partials as usize],
            ),
            sums: storage_buffer(
                ctx,
                "attractor metric sums",
                &vec![0.0; n_sums as usize * batch],
            ),
            params: uniform("attractor params", MAX_PARAM_BYTES),
            staging: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("attractor readback"),
                size: (batch * (n + 1 + n_sums as usize)) as u64 * 4,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            dummy: storage_buffer(ctx, "attractor unused", &[]),
            factor_proj: storage_buffer(ctx, "attractor factor projections", &[]),
            counted: storage_buffer(
                ctx,
                "attractor counted",
                &[0.0; counted_bytes(false) as usize / 4],
            ),
            segments: init(
                "attractor segments",
                bytemuck::cast_slice(&segments),
                wgpu::BufferUsages::STORAGE,
            ),
            population_table: (!population_table.is_empty())
                .then(|| storage_buffer(ctx, "attractor population table", &population_table)),
        })
    }

    /// A bind group of `family` over these buffers with `table` at binding
    /// 7 (M's row block, or V), U at 15 (structured: `table_u`, else V),
    /// packed patterns' bits at 16 to 19 and 22 to 25 (structured and
    /// metrics families),
    /// and for the dense family operand[cur] read and operand[1 - cur]
    /// written.
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        layout: &wgpu::BindGroupLayout,
        family: Family,
        op: &GpuOperator,
        table: &wgpu::Buffer,
        table_u: Option<&wgpu::Buffer>,
        cur: usize,
    ) -> wgpu::BindGroup {
        fn buf(binding: u32, b: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
            wgpu::BindGroupEntry {
                binding,
                resource: b.as_entire_binding(),
            }
        }
        // M's buffers at their bindings, a placeholder where M has none.
        let weights = op.bindings();
        let m = |at: u32| {
            weights
                .iter()
                .find(|&&(b, _)| b == at)
                .map_or(&self.dummy, |&(_, x)| x)
        };
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &self.params,
                    offset: 0,
                    size: wgpu::BufferSize::new(std::mem::size_of::<StepParams>() as u64),
                }),
            },
            buf(3, &self.x),
            buf(4, &self.y),
            buf(5, &self.acc),
            buf(6, &self.h),
            buf(7, table),
            buf(12, &self.first_bad),
            buf(13, &self.trials),
            buf(26, &self.counted),
            buf(10, &self.partials),
            buf(27, m(27)),
            buf(28, m(28)),
            buf(29, m(29)),
            buf(30, m(30)),
            buf(31, &self.segments),
            buf(32, m(32)),
            buf(33, m(33)),
            buf(34, &self.factor_proj),
        ];
        entries.extend([buf(1, &self.operand[cur]), buf(2, &self.operand[1 - cur])]);
        if family != Family::Dense {
            entries.extend([
                buf(8, &self.proj),
                buf(9, m(9)),
                buf(11, m(11)),
                buf(15, table_u.unwrap_or(table)),
                buf(16, m(16)),
                buf(17, m(17)),
                buf(18, m(18)),
                buf(19, m(19)),
                buf(22, m(22)),
                buf(23, m(23)),
                buf(24, m(24)),
                buf(25, m(25)),
            ]);
        }
        if family == Family::Metrics {
            entries.push(buf(14, &self.sums));
        }
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("attractor bind group"),
            layout,
            entries: &entries,
        })
    }
}

/// The GPU's form of `trial`.
fn trial_params(trial: &Trial) -> TrialParams {
    TrialParams {
        seed_lo: trial.seed as u32,
        seed_hi: (trial.seed >> 32) as u32,
        trial: trial.trial,
        m_scale: trial.m_scale as f32,
        h_scale: trial.h_scale as f32,
        noise: trial.noise as f32,
        pad: [0; 2],
    }
}
