//! The worker pool behind `--threads`: runs the runtime's row-parallel products
//! ([`glmix::parallel::Parallel`]) on persistent threads.
//!
//! One pool per process ([`init`], then [`global`] for every session). `threads - 1` workers wait for
//! work (spinning briefly, then yielding, then sleeping), and the calling thread takes parts too, so a
//! 288-row product is handed off in about a microsecond rather than the tens a thread spawn costs.
//!
//! Handoff: one atomic ticket holds the job's epoch (32 bits), its part count and the next unclaimed
//! part (16 bits each). A thread claims part `i` by advancing the ticket of the current epoch, and
//! only then reads the job (which stays alive until every claimed part is done), so a late worker can
//! never run a part of a finished job. Each part is claimed once: the [`Parallel`] contract.

use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use glmix::parallel::{Parallel, Serial};

/// The most threads a pool takes (parts are counted in 16 bits; more threads than rows per
/// product would idle anyway).
pub const MAX_THREADS: usize = 256;

/// A job: the function of the parts, on the stack of [`Pool::run`]'s caller.
struct Job {
    f: *const (dyn Fn(usize) + Sync),
}

/// What the threads share.
struct Shared {
    /// `epoch << 32 | n << 16 | next`.
    ticket: AtomicU64,
    job: AtomicPtr<Job>,
    done: AtomicUsize,
}

/// A persistent pool of `threads - 1` workers plus the calling thread.
pub struct Pool {
    threads: usize,
    shared: &'static Shared,
    /// One job at a time (sessions on several threads take turns).
    caller: Mutex<()>,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Starts the process's pool with `threads` threads in all (clamped to `1..=MAX_THREADS`; 1 starts
/// none). Later calls keep the first pool.
pub fn init(threads: usize) {
    POOL.get_or_init(|| Pool::new(threads));
}

/// The process's pool ([`Serial`] before [`init`] or with one thread).
pub fn global() -> &'static dyn Parallel {
    match POOL.get() {
        Some(p) if p.threads > 1 => p,
        _ => &Serial,
    }
}

/// `--threads`' default: the CPUs this process may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Pool {
    fn new(threads: usize) -> Pool {
        let threads = threads.clamp(1, MAX_THREADS);
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            ticket: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
        }));
        for _ in 1..threads {
            std::thread::spawn(move || worker(shared));
        }
        Pool { threads, shared, caller: Mutex::new(()) }
    }
}

fn epoch(t: u64) -> u64 {
    t >> 32
}

/// Claims the next part of epoch `e`'s job: its index, or `None` when the epoch is over or fully
/// claimed.
fn claim(shared: &Shared, e: u64) -> Option<usize> {
    let mut t = shared.ticket.load(SeqCst);
    loop {
        let (n, next) = ((t >> 16) & 0xFFFF, t & 0xFFFF);
        if epoch(t) != e || next >= n {
            return None;
        }
        match shared.ticket.compare_exchange_weak(t, t + 1, SeqCst, SeqCst) {
            Ok(_) => return Some(next as usize),
            Err(now) => t = now,
        }
    }
}

/// Runs the claimed parts of epoch `e` until none is left.
fn work(shared: &Shared, e: u64) {
    while let Some(i) = claim(shared, e) {
        // SAFETY: part `i` of epoch `e` is claimed and not done, so the caller of `run` is still
        // waiting and its `Job` (stored before the epoch's ticket) is alive.
        let f = unsafe { &*(*shared.job.load(SeqCst)).f };
        f(i);
        shared.done.fetch_add(1, SeqCst);
    }
}

/// Waits until `ready()`: spins, then yields, then sleeps in short naps.
fn backoff(mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut spins = 0u32;
    while !ready() {
        if spins < 20_000 {
            spins += 1;
            std::hint::spin_loop();
        } else if start.elapsed() < Duration::from_millis(5) {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn worker(shared: &'static Shared) {
    let mut seen = 0;
    loop {
        let mut t = 0;
        backoff(|| {
            t = shared.ticket.load(SeqCst);
            epoch(t) != seen
        });
        seen = epoch(t);
        work(shared, seen);
    }
}

// SAFETY: `run` publishes `n` parts in one ticket; each index is handed out once by `claim`'s
// compare-exchange, and `run` returns only when `done` counts all `n` (every call returned).
unsafe impl Parallel for Pool {
    fn parts(&self) -> usize {
        self.threads
    }
    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        if n <= 1 || n > 0xFFFF {
            return (0..n).for_each(f);
        }
        let _turn = self.caller.lock().unwrap_or_else(|e| e.into_inner());
        let s = self.shared;
        // SAFETY (lifetime): the erased pointer is dereferenced only by threads holding a claimed,
        // unfinished part of this epoch, and this function returns only after all parts finished.
        let f: *const (dyn Fn(usize) + Sync + '_) = f;
        let f: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
        let mut job = Job { f };
        s.job.store(&mut job, SeqCst);
        s.done.store(0, SeqCst);
        // Only the holder of `caller` advances the epoch.
        let e = epoch(s.ticket.load(SeqCst)) + 1;
        s.ticket.store(e << 32 | (n as u64) << 16, SeqCst);
        work(s, e);
        backoff(|| s.done.load(SeqCst) >= n);
        s.job.store(std::ptr::null_mut(), SeqCst);
    }
}
