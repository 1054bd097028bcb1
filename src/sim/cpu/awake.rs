//! Rayon's other threads kept looking for work through one trial's steps.
//!
//! A step of a trial run alone forks once and joins (the fused step's
//! halves, an elementwise pass). Between two forks rayon's idle threads
//! spin a few rounds and then sleep; a step of tens of microseconds leaves
//! them idle long enough to fall asleep, and the next fork's half is then
//! run by the stepping thread itself before the sleeper wakes. On the
//! 2-core VM of BENCHMARKS.md a Hopfield run at N = 2000, P = 100 logged
//! 6,600 to 40,000 context switches in 80,000 steps and ran 21 to 30 µs a
//! step from one try to the next. While an [`Awake`] lives, each other
//! thread of the pool runs a task that asks rayon for work
//! ([`rayon::yield_now`]) without pause, so it takes the next half as soon
//! as it is pushed, as OpenMP's active wait does. The numbers do not
//! change: which thread runs a half is all that does.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

thread_local! {
    /// Whether this thread runs a keep-awake task already (a task it
    /// finds through `yield_now` may be another run's).
    static SERVING: Cell<bool> = const { Cell::new(false) };
}

/// How long [`Awake::start`] waits for the other threads to take up their
/// tasks (a sleeping thread wakes in tens of microseconds).
const TAKE_UP: Duration = Duration::from_millis(2);

/// Fruitless looks for work a thread spins through before it yields its
/// core to the system between looks (each look takes tens of nanoseconds:
/// the gaps within a step are spun through, and a thread idle longer, or
/// one that shares its core with another program, gives way).
const SPINS: u32 = 256;

/// The pool's other threads kept looking for work until this is dropped.
#[derive(Debug)]
pub(crate) struct Awake {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    done: AtomicBool,
    /// The other threads' tasks that began (to serve or to decline).
    began: AtomicUsize,
    /// Tasks that serve now.
    serving: AtomicUsize,
}

impl Awake {
    /// Keeps the other threads of the current pool awake (a task on each,
    /// [`rayon::spawn_broadcast`]); `None` off the pool or on a pool of one
    /// thread. Call it on the thread that steps.
    pub(crate) fn start() -> Option<Self> {
        let owner = rayon::current_thread_index()?;
        let others = rayon::current_num_threads().saturating_sub(1);
        if others == 0 {
            return None;
        }
        let state = Arc::new(State {
            done: AtomicBool::new(false),
            began: AtomicUsize::new(0),
            serving: AtomicUsize::new(0),
        });
        // One task on each thread of the pool (this one declines: its own
        // steps come first, and it may find its task while it waits for a
        // half).
        let s = state.clone();
        rayon::spawn_broadcast(move |ctx| {
            if ctx.index() == owner {
                return;
            }
            s.began.fetch_add(1, Ordering::AcqRel);
            if SERVING.get() {
                return;
            }
            SERVING.set(true);
            s.serving.fetch_add(1, Ordering::AcqRel);
            let mut idle = 0;
            while !s.done.load(Ordering::Acquire) {
                match rayon::yield_now() {
                    Some(rayon::Yield::Executed) => idle = 0,
                    Some(rayon::Yield::Idle) | None => {
                        idle += 1;
                        if idle < SPINS {
                            std::hint::spin_loop();
                        } else {
                            // Long idle: offer the core to any other thread
                            // that wants it (another process, the progress
                            // poll), and keep looking when none does.
                            std::thread::yield_now();
                        }
                    }
                }
            }
            s.serving.fetch_sub(1, Ordering::AcqRel);
            SERVING.set(false);
        });
        // The first steps fork at once: wait (briefly) until the others
        // have taken up their tasks, or the stepping thread could find
        // them in its own queue first.
        let t0 = Instant::now();
        while state.began.load(Ordering::Acquire) < others && t0.elapsed() < TAKE_UP {
            std::hint::spin_loop();
        }
        Some(Awake { state })
    }

    /// Threads that keep looking for work now.
    #[cfg(test)]
    fn serving(&self) -> usize {
        self.state.serving.load(Ordering::Acquire)
    }
}

impl Drop for Awake {
    fn drop(&mut self) {
        self.state.done.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    /// On a pool of three, the two others serve while an `Awake` lives,
    /// the work forked meanwhile gives the same sums, and they stop when
    /// it is dropped; off the pool there is none.
    #[test]
    fn the_others_serve_while_it_lives() {
        assert!(Awake::start().is_none(), "off the pool");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let want: u64 = (0..100_000u64).map(|k| k * k).sum();
        let state = pool.install(|| {
            let awake = Awake::start().expect("on a pool of three");
            let t0 = Instant::now();
            while awake.serving() < 2 && t0.elapsed() < Duration::from_secs(5) {
                std::hint::spin_loop();
            }
            assert_eq!(awake.serving(), 2);
            for _ in 0..100 {
                let got: u64 = (0..100_000u64).into_par_iter().map(|k| k * k).sum();
                assert_eq!(got, want);
            }
            awake.state.clone()
        });
        let t0 = Instant::now();
        while state.serving.load(Ordering::Acquire) > 0 && t0.elapsed() < Duration::from_secs(5) {
            std::hint::spin_loop();
        }
        assert_eq!(state.serving.load(Ordering::Acquire), 0, "they stop");
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert!(one.install(Awake::start).is_none(), "a pool of one");
    }
}
