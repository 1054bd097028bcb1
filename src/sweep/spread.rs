//! A sweep over several devices: each backend runs batches from its own
//! thread as it becomes free, while this thread forms the batches and
//! writes the rows of those that have ended (one writer, as with one
//! device).

use super::{batches, Batch, Finished, Shard, Sweep, SweepReport};
use crate::error::{Error, Result};
use crate::sim::{Backend, Recording, Stop};
use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::Mutex;

/// [`super::run`] on every backend of `backends` at once: the rows arrive
/// in the order the batches end, each what one backend alone gives.
pub fn run(
    sweep: &Sweep,
    shard: Shard,
    backends: &mut [Box<dyn Backend>],
    done: &HashSet<(usize, u32)>,
    emit: &mut dyn FnMut(Finished) -> Result<()>,
    progress: &mut dyn FnMut(usize),
    stop: &Stop,
) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    // Batches wait here for a free device: as many as there are devices,
    // so that batches are formed (and their experiments held) only a step
    // ahead of the devices.
    let (to_run, queue) = mpsc::sync_channel::<Batch>(backends.len());
    let queue = Mutex::new(queue);
    let (finished, results) = mpsc::channel::<(Batch, Result<Vec<Recording>>)>();
    // Set when a batch failed: the devices take no more batches.
    let halt = Stop::default();
    let mut first_error = None;
    // The trials skipped, counted as the batches are formed.
    let mut counted = SweepReport::default();
    std::thread::scope(|s| -> Result<()> {
        for backend in backends.iter_mut() {
            let (queue, finished, halt) = (&queue, finished.clone(), &halt);
            s.spawn(move || loop {
                // The lock is held only to take the next batch.
                let next = queue.lock().expect("the batch queue").recv();
                let Ok(batch) = next else { break };
                if halt.requested() {
                    continue;
                }
                let recs = batch.run(backend.as_mut(), stop);
                if recs.is_err() {
                    halt.request();
                }
                if finished.send((batch, recs)).is_err() {
                    break;
                }
            });
        }
        drop(finished);
        // Writes the rows of every batch that has ended; keeps the first
        // error and stops the devices taking more.
        let mut write = |batch: Batch, recs: Result<Vec<Recording>>| {
            let written = recs.and_then(|r| batch.emit(sweep, &r, emit, progress, &mut report));
            if let Err(e) = written {
                halt.request();
                first_error.get_or_insert(e);
            }
        };
        let formed = batches(sweep, shard, done, &mut counted, &mut |b| {
            if halt.requested() {
                return Err(Error::Gpu("the sweep stopped".into()));
            }
            to_run
                .send(b)
                .map_err(|_| Error::Gpu("every device has stopped".into()))?;
            while let Ok((b, r)) = results.try_recv() {
                write(b, r);
            }
            Ok(())
        });
        // No more batches: the devices end when the queue is empty.
        drop(to_run);
        for (b, r) in results.iter() {
            write(b, r);
        }
        match formed {
            Err(e) if first_error.is_none() => Err(e),
            _ => Ok(()),
        }
    })?;
    if let Some(e) = first_error {
        return Err(e);
    }
    report.skipped = counted.skipped;
    Ok(report)
}
