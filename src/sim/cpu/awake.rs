//! Rayon's other threads kept looking for work through one trial's steps.
//!
//! A step of a trial run alone forks once and joins (the fused step's
//! halves, an elementwise pass). Between two forks rayon's idle threads
//! spin a few rounds and then sleep; a step of tens of microseconds leaves
//! them idle long enough to fall asleep, and the next fork's half is then
//! run by the stepping thread itself before the sleeper wakes. On the
//! 2-core VM of BENCHMARKS.md a Hopfield run at N = 2000, P = 100 ran 21 to
//! 30 µs a step from one try to the next, with one context switch every 1
//! to 6 steps. While an [`Awake`] lives, as many other threads of the pool
//! as the step uses run a task that asks rayon for work
//! ([`rayon::yield_now`]) without pause, so they take the next fork's
//! parts as soon as they are pushed, as OpenMP's active wait does. The
//! numbers do not change: which thread runs a part is all that does.
//!
//! At most one lives in a process at a time, and a thread that steps a
//! trial ([`Stepping`]) never serves: a task is found in a thread's own
//! queue by any wait of that thread for a fork's other part, so two
//! keep-awake runs could otherwise each hold the other's stepping thread
//! in a task that ends only when the other run does.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

thread_local! {
    /// Whether this thread runs a keep-awake task already (a task it
    /// finds through `yield_now` may be a later one).
    static SERVING: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread steps a trial now.
    static STEPPING: Cell<bool> = const { Cell::new(false) };
}

/// Whether an [`Awake`] lives in this process.
static LIVE: AtomicBool = AtomicBool::new(false);

/// How long [`Awake::start`] waits for the other threads to take up their
/// tasks (a sleeping thread wakes in tens of microseconds).
const TAKE_UP: Duration = Duration::from_millis(2);

/// Fruitless looks for work a thread spins through before it also calls
/// the system's yield between looks (each look takes tens of nanoseconds:
/// the gaps within a step are spun through; a thread idle longer lets any
/// other thread waiting for its core run first).
const SPINS: u32 = 256;

/// Marks the current thread as stepping a trial while it lives: a
/// keep-awake task this thread finds declines.
#[derive(Debug)]
pub(crate) struct Stepping {
    was: bool,
}

impl Stepping {
    /// Marks this thread until the guard is dropped.
    pub(crate) fn here() -> Self {
        Stepping {
            was: STEPPING.replace(true),
        }
    }
}

impl Drop for Stepping {
    fn drop(&mut self) {
        STEPPING.set(self.was);
    }
}

/// Other threads of the pool kept looking for work until this is dropped.
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
    /// Tasks wanted to serve.
    wanted: usize,
}

impl Awake {
    /// Keeps up to `helpers` other threads of the current pool looking for
    /// work (a task on each other thread, [`rayon::spawn_broadcast`]; the
    /// first `helpers` to begin serve, the others decline). `None` for no
    /// helpers, off the pool, on a pool of one thread, or while another
    /// `Awake` lives. Call it on the thread that steps.
    pub(crate) fn start(helpers: usize) -> Option<Self> {
        let owner = rayon::current_thread_index()?;
        let others = rayon::current_num_threads().saturating_sub(1);
        let wanted = helpers.min(others);
        if wanted == 0 || LIVE.swap(true, Ordering::AcqRel) {
            return None;
        }
        let state = Arc::new(State {
            done: AtomicBool::new(false),
            began: AtomicUsize::new(0),
            serving: AtomicUsize::new(0),
            wanted,
        });
        let s = state.clone();
        rayon::spawn_broadcast(move |ctx| {
            if ctx.index() != owner {
                s.began.fetch_add(1, Ordering::AcqRel);
                serve(&s);
            }
        });
        // The first steps fork at once: wait (briefly) until the helpers
        // have taken up their tasks, or the stepping thread could find
        // their parts of a step still waiting.
        let t0 = Instant::now();
        while state.serving.load(Ordering::Acquire) < wanted
            && state.began.load(Ordering::Acquire) < others
            && t0.elapsed() < TAKE_UP
        {
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

/// One thread's task: look for work until the run is done, unless this
/// thread steps a trial, serves already, or enough others serve.
fn serve(s: &State) {
    if STEPPING.get() || SERVING.get() || s.done.load(Ordering::Acquire) {
        return;
    }
    // Take a place only while fewer than `wanted` serve: the count never
    // passes `wanted`, not even for a moment.
    if s.serving
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < s.wanted).then_some(n + 1)
        })
        .is_err()
    {
        return;
    }
    SERVING.set(true);
    let mut idle = 0;
    while !s.done.load(Ordering::Acquire) {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => idle = 0,
            Some(rayon::Yield::Idle) | None => {
                if idle < SPINS {
                    idle += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
    SERVING.set(false);
    s.serving.fetch_sub(1, Ordering::AcqRel);
}

impl Drop for Awake {
    fn drop(&mut self) {
        self.state.done.store(true, Ordering::Release);
        LIVE.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    /// An `Awake` for `helpers`, once no other lives (another test may run
    /// a trial meanwhile; up to 5 s).
    fn start_when_free(helpers: usize) -> Option<Awake> {
        let t0 = Instant::now();
        loop {
            let a = Awake::start(helpers);
            if a.is_some() || t0.elapsed() > Duration::from_secs(5) {
                return a;
            }
            std::thread::yield_now();
        }
    }

    /// Waits up to 5 s for `ok`.
    fn until(ok: impl Fn() -> bool) {
        let t0 = Instant::now();
        while !ok() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::yield_now();
        }
    }

    /// On a pool of four, the helpers asked for serve (no more) while an
    /// `Awake` lives, work forked meanwhile gives the same sums, no second
    /// one starts, and they stop when it is dropped; off the pool, on a
    /// pool of one, or for no helpers there is none. One test: `LIVE` is
    /// shared by the whole process.
    #[test]
    fn the_helpers_asked_for_serve_while_it_lives() {
        assert!(Awake::start(1).is_none(), "off the pool");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let want: u64 = (0..100_000u64).map(|k| k * k).sum();
        let state = pool.install(|| {
            assert!(Awake::start(0).is_none(), "no helpers");
            let awake = start_when_free(2).expect("on a pool of four");
            until(|| awake.serving() >= 2 && awake.state.began.load(Ordering::Acquire) == 3);
            assert_eq!(awake.serving(), 2, "two of the three others serve");
            assert!(Awake::start(2).is_none(), "one at a time");
            // A thread that steps never serves: its task declines at once.
            let idle = State {
                done: AtomicBool::new(false),
                began: AtomicUsize::new(0),
                serving: AtomicUsize::new(0),
                wanted: 8,
            };
            let stepping = Stepping::here();
            serve(&idle);
            drop(stepping);
            assert_eq!(idle.serving.load(Ordering::Acquire), 0);
            for _ in 0..100 {
                let got: u64 = (0..100_000u64).into_par_iter().map(|k| k * k).sum();
                assert_eq!(got, want);
            }
            awake.state.clone()
        });
        until(|| state.serving.load(Ordering::Acquire) == 0);
        assert_eq!(state.serving.load(Ordering::Acquire), 0, "they stop");
        let again = pool.install(|| start_when_free(3));
        assert!(again.is_some(), "a new one once the last is dropped");
        drop(again);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert!(one.install(|| Awake::start(1)).is_none(), "a pool of one");
    }
}
