//! Encoding the steps between two records as the dispatches of the run's
//! [`Schedule`](super::schedule::Schedule), in one compute pass and one
//! submit, with their per-dispatch parameters at dynamic offsets. Each
//! dispatch's count and bytes go into the run's ledger as it is recorded.
//!
//! Per step and stage: dense weights take one fused dispatch per row
//! block; structured weights two (the fused update with the next
//! projections' partial sums, then their totals), or one when R = 0. The
//! first submit adds the prologue (the initial projections); a record adds
//! the two metric dispatches and the copies into the staging buffer.

use super::kernels::StepParams;
use super::run::Run;
use super::schedule::Dispatch;

/// Where a submit's dispatches are counted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Step,
    Other,
}

impl Run<'_> {
    /// Records and submits `steps` steps starting at `first`. With
    /// `record = Some(read_x)`, the record's metric sums are reduced after
    /// the steps and copied, with the trials' first bad steps and, when
    /// `read_x`, the states, into the staging buffer. Returns the submit's
    /// index and whether its timestamps must be collected.
    pub(super) fn submit(
        &self,
        first: u64,
        steps: u64,
        record: Option<bool>,
    ) -> (wgpu::SubmissionIndex, bool) {
        let stage_codes: Vec<u32> = self
            .exp
            .simulation
            .method
            .stages()
            .iter()
            .map(|s| s.code())
            .collect();
        let prologue = !self.started.replace(true);
        // The dispatches in order, each with its parameters.
        let mut list: Vec<(&Dispatch, StepParams, Part)> = Vec::new();
        if prologue {
            for d in &self.schedule.prologue {
                let mut p = StepParams {
                    stage: stage_codes[0],
                    step: first as u32,
                    ..self.base
                };
                self.inputs.fill(first, &mut p);
                list.push((d, p, Part::Other));
            }
        }
        for k in first..first + steps {
            for (stage, dispatches) in stage_codes.iter().zip(&self.schedule.stages) {
                for d in dispatches {
                    let mut p = StepParams {
                        row0: d.row0,
                        rows: d.rows,
                        stage: *stage,
                        step: k as u32,
                        ..self.base
                    };
                    self.inputs.fill(k, &mut p);
                    list.push((d, p, Part::Step));
                }
            }
        }
        if record.is_some() {
            // The record's step selects the input epochs of the energy.
            let end = first + steps;
            for d in &self.schedule.record {
                let mut p = StepParams {
                    step: end as u32,
                    n_groups: self.metric_groups,
                    ..self.base
                };
                self.inputs.fill(end, &mut p);
                list.push((d, p, Part::Other));
            }
        }
        let mut bytes = vec![0u8; list.len() * self.align as usize];
        for (i, (_, p, _)) in list.iter().enumerate() {
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
        let mut ledger = self.ledger.get();
        let mut requested = self.requested.borrow_mut();
        ledger.steps += steps;
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("attractor steps"),
                timestamp_writes: self.timer.as_ref().map(|t| t.pass_writes()),
            });
            let mut cur = self.cur.get();
            let per_stage: Vec<usize> = self.schedule.stages.iter().map(Vec::len).collect();
            let mut in_stage = 0usize;
            let mut stage = 0usize;
            for (block, (d, _, part)) in list.iter().enumerate() {
                let offset = (block as u64 * self.align) as u32;
                pass.set_pipeline(&self.pipelines[&d.kernel]);
                let group = if d.kernel.is_metric() {
                    &self.metric_group
                } else {
                    &self.groups[d.slot][cur]
                };
                pass.set_bind_group(0, group, &[offset]);
                let [x, y, z] = d.workgroups;
                pass.dispatch_workgroups(x, y, z);
                if let Some(r) = requested.as_mut() {
                    r.add(d);
                }
                match part {
                    Part::Step => {
                        ledger.step_dispatches += 1;
                        ledger.step_bytes += d.bytes();
                        ledger.step_weight_bytes += d.weight_bytes();
                        ledger.step_requested += d.requested();
                        // After a stage's last dispatch the operand is in the other buffer.
                        in_stage += 1;
                        if in_stage == per_stage[stage] {
                            in_stage = 0;
                            stage = (stage + 1) % per_stage.len();
                            cur = 1 - cur;
                        }
                    }
                    Part::Other => {
                        ledger.other_dispatches += 1;
                        ledger.other_bytes += d.bytes();
                    }
                }
            }
            self.cur.set(cur);
        }
        self.ledger.set(ledger);
        let timed = self
            .timer
            .as_ref()
            .is_some_and(|t| t.after_pass(&mut encoder, record.is_some()));
        if let Some(read_x) = record {
            let b = u64::from(self.base.batch);
            let sums = b * u64::from(self.base.metric_sums) * 4;
            let staging = &self.buf.staging;
            encoder.copy_buffer_to_buffer(&self.buf.first_bad, 0, staging, 0, b * 4);
            encoder.copy_buffer_to_buffer(&self.buf.sums, 0, staging, b * 4, sums);
            if read_x {
                let states = b * u64::from(self.n) * 4;
                encoder.copy_buffer_to_buffer(&self.buf.x, 0, staging, b * 4 + sums, states);
            }
        }
        (self.ctx.queue.submit([encoder.finish()]), timed)
    }
}
