//! What the GPU can do, measured: its memory bandwidth and its f32
//! arithmetic peak (`attractor bench` divides a case's bytes and flops per
//! second by them), with the probe kernels of shaders/probe.wgsl.

use super::context::GpuContext;
use super::kernels::{self, Family};
use super::pipelines::{PipelineKey, Pipelines};
use crate::error::Result;
use std::time::Instant;

/// How [`gpu_probes`] measures (the `bandwidth_probe` of GPU cases).
pub const GPU_PROBE: &str = "gpu: the faster of a read kernel (vec4 loads, 256 MiB or the \
                             largest binding) and a buffer copy (read + write), fastest of 5, \
                             GPU timestamps where the adapter has them";

/// The GPU's memory bandwidth, GB/s: the faster of a read kernel
/// (shaders/probe.wgsl: every thread sums 32 vec4s, the grid's loads
/// contiguous, bytes read and written counted) over a buffer of 256 MiB
/// (or the largest storage binding) and a buffer-to-buffer copy of it
/// (read + write counted); each the fastest of 5 runs after a warm-up,
/// timed by timestamp queries where the adapter has them, else around the
/// submit and wait.
///
/// Also the GPU's f32 arithmetic peak, GFLOP/s: the arithmetic probe
/// (`flops_probe`: every thread runs [`kernels::PROBE_FLOP_ROUNDS`] rounds
/// of 8 independent vec4 fused multiply-adds) over the same grid (at most
/// 64 workgroups on a software adapter, whose cores are few), fastest of 5.
/// Returns (bandwidth GB/s, peak GFLOP/s).
pub fn gpu_probes(ctx: &GpuContext) -> Result<(f64, f64)> {
    let limits = ctx.device.limits();
    let threads = u64::from(kernels::PROBE_WORKGROUP);
    let vec4s_per_group = threads * u64::from(kernels::PROBE_VEC4S);
    let most = (256u64 << 20)
        .min(limits.max_storage_buffer_binding_size)
        .min(limits.max_buffer_size / 2);
    let groups = (most / (16 * vec4s_per_group))
        .min(u64::from(limits.max_compute_workgroups_per_dimension))
        .max(1);
    let size = groups * vec4s_per_group * 16;
    let out_size = groups * threads * 16;
    let timer = super::timing::Timer::new(ctx);
    let buf = |label, size, usage| {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        })
    };
    use wgpu::BufferUsages as U;
    let src = buf("bench probe source", size, U::STORAGE | U::COPY_SRC);
    let dst = buf("bench probe target", size, U::STORAGE | U::COPY_DST);
    // The probe kernels, compiled and laid out as every other family.
    let mut cache = Pipelines::default();
    let compiled = cache.get(ctx, PipelineKey::probe(), false)?;
    let layout = cache.layout(ctx, Family::Probe);
    let pipeline = ctx.scoped("binding the bandwidth probe", || {
        let pipeline = (compiled[0].clone(), compiled[1].clone());
        let group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("bench probe"),
            layout: &layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 20,
                    resource: src.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 21,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &dst,
                        offset: 0,
                        size: wgpu::BufferSize::new(out_size),
                    }),
                },
            ],
        });
        (pipeline, group)
    })?;
    let software = ctx.adapter.get_info().device_type == wgpu::DeviceType::Cpu;
    let flop_groups = if software { groups.min(64) } else { groups };
    // Seconds of one run (0: read, 1: copy, 2: arithmetic; the GPU's own
    // time where it can).
    let time = |probe: u8| -> Result<f64> {
        let read = probe != 1;
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        if read {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bench probe"),
                timestamp_writes: timer.as_ref().map(|t| t.pass_writes()),
            });
            if probe == 0 {
                pass.set_pipeline(&pipeline.0 .0);
                pass.set_bind_group(0, &pipeline.1, &[]);
                pass.dispatch_workgroups(groups as u32, 1, 1);
            } else {
                pass.set_pipeline(&pipeline.0 .1);
                pass.set_bind_group(0, &pipeline.1, &[]);
                pass.dispatch_workgroups(flop_groups as u32, 1, 1);
            }
        } else {
            enc.copy_buffer_to_buffer(&src, 0, &dst, 0, size);
        }
        let timed = read && timer.as_ref().is_some_and(|t| t.after_pass(&mut enc, true));
        let s = Instant::now();
        let i = ctx.queue.submit([enc.finish()]);
        let _ = ctx.device.poll(wgpu::PollType::Wait {
            submission_index: Some(i),
            timeout: None,
        });
        let wall = s.elapsed().as_secs_f64();
        ctx.check()?;
        match (timed, &timer) {
            (true, Some(t)) => t.collect(ctx),
            _ => Ok(wall),
        }
    };
    let best = |probe: u8| -> Result<f64> {
        time(probe)?;
        (0..5).try_fold(f64::INFINITY, |b, _| Ok(b.min(time(probe)?)))
    };
    let read = (size + out_size) as f64 / best(0)? / 1e9;
    let copy = 2.0 * size as f64 / best(1)? / 1e9;
    let flops = (flop_groups * threads) as f64 * f64::from(kernels::PROBE_FLOP_ROUNDS) * 64.0;
    let peak = flops / best(2)? / 1e9;
    Ok((read.max(copy), peak))
}
