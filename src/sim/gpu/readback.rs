//! Reading a record back: each trial's first bad step, its metric sums and,
//! when asked for, the states.

use super::context::SUBMIT_TIMEOUT;
use super::run::Run;
use crate::error::{Error, Result};

/// What one record reads back.
pub struct Readback {
    /// Per trial: 1 + the first step that was not finite, or u32::MAX.
    pub bad: Vec<u32>,
    /// Per trial, the metric sums.
    pub sums: Vec<f64>,
    /// The states, when asked for.
    pub x: Option<Vec<f32>>,
}

impl Run<'_> {
    /// Waits until the GPU has finished submit `index` (at most
    /// `SUBMIT_TIMEOUT`).
    pub(super) fn wait(&self, index: wgpu::SubmissionIndex) -> Result<()> {
        let polled = self.ctx.device.poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: Some(SUBMIT_TIMEOUT),
        });
        // What the device reported (its loss, a validation error) says more
        // than the failed wait it causes.
        self.ctx.check()?;
        polled.map_err(|e| match e {
            wgpu::PollError::Timeout => Error::Gpu(format!(
                "the GPU did not finish a submit within {} s",
                SUBMIT_TIMEOUT.as_secs()
            )),
            wgpu::PollError::WrongSubmissionIndex(..) => Error::Gpu(format!(
                "the GPU device no longer accepts work (it was lost or destroyed): {e}"
            )),
        })?;
        Ok(())
    }

    /// Waits for `index` and reads back each trial's first bad step, its
    /// metric sums ([B][K]) and, when `read_x`, the states ([B][N]).
    pub(super) fn read(&self, index: wgpu::SubmissionIndex, read_x: bool) -> Result<Readback> {
        let b = self.base.batch as usize;
        let k = self.base.metric_sums as usize;
        let len = (b + b * k + if read_x { b * self.n as usize } else { 0 }) as u64 * 4;
        let slice = self.buf.staging.slice(..len);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait(index)?;
        rx.recv()
            .map_err(|_| Error::Gpu("the readback was dropped".into()))?
            .map_err(|e| Error::Gpu(format!("reading back the state: {e}")))?;
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("reading back the state: {e}")))?;
            let all: &[f32] = bytemuck::cast_slice(&view);
            Readback {
                bad: all[..b].iter().map(|v| v.to_bits()).collect(),
                sums: all[b..b + b * k].iter().map(|&v| f64::from(v)).collect(),
                x: read_x.then(|| all[b + b * k..].to_vec()),
            }
        };
        self.buf.staging.unmap();
        if out.bad.contains(&0) {
            return Err(Error::Gpu(
                "a dispatch carried an integration stage code the shaders do not know; \
                 the Rust stage table and shaders/common.wgsl disagree"
                    .into(),
            ));
        }
        Ok(out)
    }
}
