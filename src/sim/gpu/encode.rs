//! Encoding the steps between two records as dispatches of one compute pass
//! and one submit, with their per-dispatch parameters at dynamic offsets.
//!
//! Per step and stage: dense weights take one fused dispatch per row block;
//! structured weights take three (projection partial sums, their totals,
//! the per-neuron update), or one when R = 0 (a diagonal). A record adds the
//! two metric dispatches and the copies into the staging buffer.

use super::kernels::{StepParams, DENSE_TILE, STRUCTURED_WORKGROUP};
use super::run::Run;
use super::upload::GpuOperator;

impl Run<'_> {
    /// The stage codes of one step.
    pub(super) fn stages(&self) -> Vec<u32> {
        self.exp
            .simulation
            .method
            .stages()
            .iter()
            .map(|s| s.code())
            .collect()
    }

    /// Splits `groups` workgroups over x and y within the per-dimension limit.
    pub(super) fn grid(&self, groups: u32) -> (u32, u32) {
        let max = self
            .ctx
            .device
            .limits()
            .max_compute_workgroups_per_dimension
            .max(1);
        if groups <= max {
            (groups.max(1), 1)
        } else {
            let gy = groups.div_ceil(max);
            (groups.div_ceil(gy), gy)
        }
    }

    /// Dispatches each step and stage records (params blocks per step and
    /// stage): one per dense row block, one for structured weights.
    pub(super) fn blocks(&self) -> Vec<(u32, u32)> {
        match &self.op {
            GpuOperator::Dense(b) => b.iter().map(|(r0, r, _)| (*r0, *r)).collect(),
            GpuOperator::Structured { .. } => vec![(0, self.n)],
        }
    }

    /// Records and submits `steps` steps starting at `first`. With
    /// `record = Some(read_x)`, the record's metric sums are reduced after
    /// the steps and copied, with the trials' first bad steps and, when
    /// `read_x`, the states, into the staging buffer.
    pub(super) fn submit(
        &self,
        first: u64,
        steps: u64,
        epochs: &[(u64, u64)],
        record: Option<bool>,
    ) -> wgpu::SubmissionIndex {
        let stages = self.stages();
        let blocks = self.blocks();
        let on = |k: u64| {
            epochs
                .iter()
                .enumerate()
                .filter(|(_, (a, b))| *a <= k && k < *b)
                .fold(0u32, |m, (e, _)| m | (1 << e))
        };
        let mut params = Vec::with_capacity((steps as usize) * stages.len() * blocks.len() + 1);
        for k in first..first + steps {
            for &s in &stages {
                for &(row0, rows) in &blocks {
                    params.push(StepParams {
                        row0,
                        rows,
                        stage: s,
                        step: k as u32,
                        epochs_on: on(k),
                        ..self.base
                    });
                }
            }
        }
        // The record's parameters: its step selects the input epochs of the energy.
        let end = first + steps;
        params.push(StepParams {
            step: end as u32,
            epochs_on: on(end),
            ..self.base
        });
        let mut bytes = vec![0u8; params.len() * self.align as usize];
        for (i, p) in params.iter().enumerate() {
            let o = i * self.align as usize;
            bytes[o..o + std::mem::size_of::<StepParams>()].copy_from_slice(bytemuck::bytes_of(p));
        }
        self.ctx.queue.write_buffer(&self.buf.params, 0, &bytes);

        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("attractor steps"),
            });
        let batch = self.base.batch;
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("attractor steps"),
                timestamp_writes: None,
            });
            let mut cur = self.cur.get();
            let mut block = 0usize;
            for _ in 0..steps {
                for _ in &stages {
                    match &self.op {
                        GpuOperator::Dense(b) => {
                            pass.set_pipeline(&self.step_pipelines[0]);
                            let tiles = batch.div_ceil(DENSE_TILE);
                            for (slot, (_, rows, _)) in b.iter().enumerate() {
                                let offset = (block as u64 * self.align) as u32;
                                pass.set_bind_group(0, &self.groups[slot][cur], &[offset]);
                                let (gx, gz) = self.grid(rows.div_ceil(self.dense_rows));
                                pass.dispatch_workgroups(gx, tiles, gz);
                                block += 1;
                            }
                        }
                        GpuOperator::Structured { rank, .. } => {
                            let offset = (block as u64 * self.align) as u32;
                            if *rank > 0 {
                                pass.set_pipeline(&self.step_pipelines[0]);
                                pass.set_bind_group(0, &self.groups[0][cur], &[offset]);
                                pass.dispatch_workgroups(self.base.n_groups, *rank, batch);
                                pass.set_pipeline(&self.step_pipelines[1]);
                                pass.dispatch_workgroups(*rank, batch, 1);
                            }
                            pass.set_pipeline(&self.step_pipelines[2]);
                            pass.set_bind_group(0, &self.groups[1][cur], &[offset]);
                            let (gx, gy) = self.grid(self.n.div_ceil(STRUCTURED_WORKGROUP));
                            pass.dispatch_workgroups(gx, gy, batch);
                            block += 1;
                        }
                    }
                    cur = 1 - cur;
                }
            }
            self.cur.set(cur);
            if record.is_some() {
                let offset = (block as u64 * self.align) as u32;
                pass.set_pipeline(&self.metric_pipelines[0]);
                pass.set_bind_group(0, &self.metric_group, &[offset]);
                pass.dispatch_workgroups(self.base.n_groups, self.base.metric_sums, batch);
                pass.set_pipeline(&self.metric_pipelines[1]);
                pass.dispatch_workgroups(self.base.metric_sums, batch, 1);
            }
        }
        if let Some(read_x) = record {
            let b = u64::from(batch);
            let sums = b * u64::from(self.base.metric_sums) * 4;
            let staging = &self.buf.staging;
            encoder.copy_buffer_to_buffer(&self.buf.first_bad, 0, staging, 0, b * 4);
            encoder.copy_buffer_to_buffer(&self.buf.sums, 0, staging, b * 4, sums);
            if read_x {
                let states = b * u64::from(self.n) * 4;
                encoder.copy_buffer_to_buffer(&self.buf.x, 0, staging, b * 4 + sums, states);
            }
        }
        self.ctx.queue.submit([encoder.finish()])
    }
}
