//! GPU time measured on the GPU: each submit's compute pass writes a
//! timestamp at its start and end (where the adapter has
//! `TIMESTAMP_QUERY`); the pairs are resolved into a buffer and read back
//! with the records, and their differences summed.

use super::context::GpuContext;
use crate::error::{Error, Result};
use std::cell::Cell;

/// Submits whose timestamps are kept before they must be read.
const SLOTS: u32 = 64;
/// Bytes between two resolved pairs (the resolve offset's alignment).
const STRIDE: u64 = wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT;

/// The timestamps of a run's submits.
pub struct Timer {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Slots written since the last read.
    used: Cell<u32>,
    /// Nanoseconds per timestamp tick.
    period: f64,
}

impl Timer {
    /// A timer on `ctx`'s device, or `None` when it has no timestamp queries.
    pub fn new(ctx: &GpuContext) -> Option<Self> {
        if !ctx
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
        {
            return None;
        }
        let buffer = |label, usage| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: u64::from(SLOTS) * STRIDE,
                usage,
                mapped_at_creation: false,
            })
        };
        Some(Timer {
            queries: ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("attractor timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2 * SLOTS,
            }),
            resolved: buffer(
                "attractor resolved timestamps",
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            ),
            readback: buffer(
                "attractor timestamp readback",
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
            used: Cell::new(0),
            period: f64::from(ctx.queue.get_timestamp_period()),
        })
    }

    /// The timestamp writes of the next submit's compute pass.
    pub fn pass_writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        let k = self.used.get();
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * k),
            end_of_pass_write_index: Some(2 * k + 1),
        }
    }

    /// After the pass: resolves its pair and, when `flush` or when the
    /// slots are full, copies every pair since the last read to the
    /// readback buffer. Returns whether it did (then [`Self::collect`]
    /// must follow the submit).
    pub fn after_pass(&self, encoder: &mut wgpu::CommandEncoder, flush: bool) -> bool {
        let k = self.used.get();
        encoder.resolve_query_set(
            &self.queries,
            2 * k..2 * k + 2,
            &self.resolved,
            u64::from(k) * STRIDE,
        );
        self.used.set(k + 1);
        if flush || k + 1 == SLOTS {
            encoder.copy_buffer_to_buffer(
                &self.resolved,
                0,
                &self.readback,
                0,
                u64::from(k + 1) * STRIDE,
            );
            true
        } else {
            false
        }
    }

    /// Waits for the copied pairs and returns the seconds they span
    /// (end - start of each pass, summed).
    pub fn collect(&self, ctx: &GpuContext) -> Result<f64> {
        let k = self.used.replace(0);
        let slice = self.readback.slice(..u64::from(k.max(1)) * STRIDE);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let _ = ctx.device.poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: Some(super::context::SUBMIT_TIMEOUT),
        });
        ctx.check()?;
        rx.recv()
            .map_err(|_| Error::Gpu("the timestamp readback was dropped".into()))?
            .map_err(|e| Error::Gpu(format!("reading back the timestamps: {e}")))?;
        let ticks: u64 = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("reading back the timestamps: {e}")))?;
            let all: &[u64] = bytemuck::cast_slice(&view);
            (0..k as usize)
                .map(|s| {
                    let at = s * (STRIDE as usize / 8);
                    all[at + 1].saturating_sub(all[at])
                })
                .sum()
        };
        self.readback.unmap();
        Ok(ticks as f64 * self.period * 1e-9)
    }
}
