//! `--threads N > 1`: N single-threaded runtimes, one per OS thread, filled first: every client is
//! served on the first thread until that thread is saturated, and only then are clients handed over
//! to another thread, between two of their batches.
//!
//! Why not tokio's multi-threaded runtime, or clients spread evenly over N runtimes: at a load one
//! thread carries (`-c 50 -P 1` here, where the client is the bottleneck), both cost more CPU per
//! request than one thread (`bench/results/PROFILE.md`): each thread runs dry sooner and sleeps and
//! wakes more often per request, and the multi-threaded runtime adds a futex wake per readiness
//! event. Filled first, such a load stays on one thread and costs what `--threads 1` costs; a load
//! that saturates it is split, which is where a second thread adds throughput.
//!
//! ```text
//! every 100 ms, on each thread: busy = its CPU time / wall time (CLOCK_THREAD_CPUTIME_ID)
//! on the first thread, after its sample (the balancer):
//!   a thread busy ≥ 90 % for 300 ms after its first saturated sample (that one only takes the first
//!     reading of the machine's idle CPU, so 400 ms in all), another thread < 60 %, and half a CPU of
//!     the machine idle: the busy one sheds clients to the idle one, in proportion to the
//!     difference (a quota its connections take one by one between batches)
//!   an extra thread whose clients would fit on a lower one (both together < 75 % for a second):
//!     it sheds them all
//!   after a move, two samples pass before the next (they do not show its effect yet)
//! new clients go to the first thread (which accepts them), or while it is saturated to the thread
//!   it would shed to: the balancer moves them if need be
//! ```
//!
//! A connection hands itself over between batches with nothing owed (see
//! [`crate::connection::Moving`]): its socket leaves this thread's epoll and joins the other's.
//! Everything else that crosses threads (blocked clients, pub/sub, `CLIENT KILL`, shutdown) does so
//! through wakers, which wake a task on whichever runtime it lives.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::time::{clock_gettime, ClockId};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often each thread measures how busy it was.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// A thread this busy (per mille of its wall time on a CPU) is saturated: it sheds clients...
const SATURATED: u32 = 900;
/// ...once it was for this many samples in a row: a spike moves nobody (one sample over 90 % at
/// `-P 16` split the clients for the rest of the run, for no more throughput).
const SATURATED_SAMPLES: u32 = 3;
/// A thread takes shed clients only while less busy than this.
const TAKES_CLIENTS: u32 = 600;
/// Two threads together less busy than this serve their clients on the lower one (which serves
/// them with less CPU than two did, so it stays below [`SATURATED`])...
const CONSOLIDATE: u32 = 750;
/// ...once they were for this many samples in a row (a second): a short lull moves nobody.
const CALM_SAMPLES: u32 = 10;
/// Samples skipped after a move, whose effect the next sample does not show yet.
const COOLDOWN_SAMPLES: u32 = 2;
/// A saturated thread sheds clients only while the machine has this much CPU idle (per mille of
/// one CPU, summed over the CPUs this process may run on): a second thread with no CPU of its own
/// shares one with the first or with the clients, and adds switches instead of throughput (on 2
/// CPUs with redis-benchmark on one it cost more CPU per GET and about tripled the p99, 4.6/4.4 ms
/// against 1.6/1.3: `bench/results/PROFILE.md`, "no spreading without a spare CPU").
const SPARE_TO_SPREAD: u32 = 500;

/// The threads that serve clients: the caller's (index 0, which also runs the accept loop and the
/// background tasks) and `--threads` − 1 more.
pub struct Workers {
    threads: Vec<Thread>,
    /// `--debug-hand-over-every` (0: off).
    hand_over_every: u64,
    /// New clients placed so far, for the round of [`Workers::place_new`] under that flag.
    placed: AtomicUsize,
    /// Where [`Workers::place_new`] puts new clients, set by each balancing: the thread the first
    /// sheds to while its last sample found it saturated, else the first (0).
    new_clients_to: AtomicUsize,
}

/// One thread: where to spawn on it, and its load.
struct Thread {
    handle: Handle,
    load: Arc<Load>,
    /// Dropped to stop its runtime (`None` for the caller's thread, whose runtime the caller owns).
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the balancer knows of a thread, and what it asks of its connections.
#[derive(Default)]
struct Load {
    /// CPU time over wall time in the last sample, per mille.
    busy: AtomicU32,
    /// Clients served there now.
    clients: AtomicUsize,
    /// How many of its clients are to move (taken one by one, between their batches)...
    shed: AtomicUsize,
    /// ...and to which thread.
    shed_to: AtomicUsize,
}

/// The worker the current thread is, if it is one of several.
struct Here {
    index: usize,
    next: usize,
    load: Arc<Load>,
    hand_over_every: u64,
    batches: Cell<u64>,
}

thread_local! {
    static HERE: RefCell<Option<Here>> = const { RefCell::new(None) };
}

impl Workers {
    /// The calling thread alone (`--threads 1`, tests): no sampling, no hand-over.
    pub fn single() -> Workers {
        Workers {
            threads: Vec::new(),
            hand_over_every: 0,
            placed: AtomicUsize::new(0),
            new_clients_to: AtomicUsize::new(0),
        }
    }

    /// The calling thread (whose current-thread runtime must be entered: its handle is taken) and
    /// `threads` − 1 more, each running a current-thread runtime until this is dropped.
    /// `hand_over_every` is `--debug-hand-over-every`: every this many batches on a thread, the
    /// connection that ran the last one moves to the next thread (tests: every connection crosses).
    pub fn start(threads: usize, hand_over_every: u64) -> std::io::Result<Workers> {
        let mut workers = Workers {
            threads: Vec::new(),
            hand_over_every,
            placed: AtomicUsize::new(0),
            new_clients_to: AtomicUsize::new(0),
        };
        let Ok(handle) = Handle::try_current() else { return Ok(workers) };
        workers.threads.push(Thread { handle, load: Arc::default(), stop: None, thread: None });
        for index in 1..threads.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let handle = runtime.handle().clone();
            let load = Arc::new(Load::default());
            let (stop, stopped) = oneshot::channel::<()>();
            let here = (index, (index + 1) % threads, Arc::clone(&load), hand_over_every);
            let thread = std::thread::Builder::new().name(format!("tinykv-worker-{index}")).spawn(move || {
                enter(here);
                // Either a send or the sender's drop ends it.
                let _ = runtime.block_on(stopped);
                crate::arena::flush_local_cache();
            })?;
            workers.threads.push(Thread { handle, load, stop: Some(stop), thread: Some(thread) });
        }
        if workers.threads.len() > 1 {
            enter((0, 1, Arc::clone(&workers.threads[0].load), hand_over_every));
        }
        Ok(workers)
    }

    /// Starts each thread's sampling (the first thread's also balances) until `shutdown`.
    pub fn start_sampling(self: &Arc<Self>, tracker: &TaskTracker, shutdown: &CancellationToken) {
        if self.threads.len() < 2 {
            return;
        }
        for (index, thread) in self.threads.iter().enumerate() {
            let (workers, shutdown) = (Arc::clone(self), shutdown.clone());
            tracker.spawn_on(async move { workers.sample(index, shutdown).await }, &thread.handle);
        }
    }

    /// Every [`SAMPLE_INTERVAL`]: how busy this thread was; on the first thread, the balancing.
    async fn sample(&self, index: usize, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(SAMPLE_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is at once: the first sample covers a whole interval after it.
        interval.tick().await;
        let mut last = (Instant::now(), thread_cpu());
        let mut balancer = Balancer::default();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            let now = (Instant::now(), thread_cpu());
            let wall = now.0.duration_since(last.0);
            let busy = now.1.saturating_sub(last.1).as_micros() * 1000 / wall.as_micros().max(1);
            last = now;
            let busy = busy.min(1000) as u32;
            tracing::trace!(thread = index, busy, "busy per mille");
            self.threads[index].load.busy.store(busy, Ordering::Relaxed);
            // The extra threads' cached entry cells go back to their slabs, as the first's do
            // in the expiry sweep (`arena::flush_local_cache`).
            if index > 0 {
                crate::arena::flush_local_cache();
            } else {
                self.balance(&mut balancer);
            }
        }
    }

    /// Sets each thread's quota of clients to hand over, and where new clients start, from the
    /// last samples.
    fn balance(&self, balancer: &mut Balancer) {
        let loads: Vec<(u32, usize)> = self
            .threads
            .iter()
            .map(|thread| (thread.load.busy.load(Ordering::Relaxed), thread.load.clients.load(Ordering::Relaxed)))
            .collect();
        // The machine's idle CPU matters only to a saturated thread: /proc/stat is read only then.
        let saturated = loads.iter().any(|&(busy, _)| busy >= SATURATED);
        let spare = balancer.spare.sample(saturated);
        let quotas = balancer.quotas(&loads, spare);
        // A new client starts where the first thread sheds to while it is saturated.
        let new_clients_to = match plan(&loads, 0, spare) {
            Plan::Spread { to, .. } => to,
            _ => 0,
        };
        self.new_clients_to.store(new_clients_to, Ordering::Relaxed);
        for (thread, (shed, to)) in self.threads.iter().zip(quotas) {
            // The target first, published by the quota's release: a connection that takes from the
            // quota (acquire) sees this sample's target, not an older one.
            thread.load.shed_to.store(to, Ordering::Relaxed);
            thread.load.shed.store(shed, Ordering::Release);
        }
    }

    /// The thread a new client starts on: the first, unless its last sample found it saturated and
    /// another thread can take clients (a load of short connections would otherwise never spread:
    /// clients move only between batches, after the first thread was saturated for a while). With
    /// `--debug-hand-over-every`, new clients go round the threads, so tests start clients on each.
    pub fn place_new(&self) -> usize {
        if self.hand_over_every > 0 && self.threads.len() > 1 {
            return self.placed.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        }
        self.new_clients_to.load(Ordering::Relaxed)
    }

    /// Serves `serve` on thread `index` (a connection handed over there), tracked by `tracker`.
    pub fn spawn_to<F, Fut>(&self, index: usize, tracker: &TaskTracker, serve: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(thread) = self.threads.get(index).or(self.threads.first()) else {
            tracker.spawn(async move { serve().await });
            return;
        };
        let counted = Counted::new(&thread.load);
        // The future is built on the thread that runs it: a socket in it registers with that
        // thread's epoll.
        tracker.spawn_on(
            async move {
                let _counted = counted;
                serve().await;
            },
            &thread.handle,
        );
    }
}

/// What a thread should do with its clients, judged from one sample.
#[derive(Debug, PartialEq)]
enum Plan {
    Stay,
    /// It is saturated and thread `to` is not: hand `clients` over to it (acted on only when this
    /// holds for [`SATURATED_SAMPLES`] samples in a row).
    Spread {
        clients: usize,
        to: usize,
    },
    /// Its clients and thread `to`'s (a lower one) would fit on `to` (acted on only when this
    /// holds for [`CALM_SAMPLES`] samples in a row).
    FitsLower {
        to: usize,
    },
}

/// What thread `index` should do, given every thread's (busy per mille, clients) and the
/// machine's idle CPU (per mille of one CPU, if known).
fn plan(loads: &[(u32, usize)], index: usize, spare: Option<u32>) -> Plan {
    let (busy, clients) = loads[index];
    if clients == 0 {
        return Plan::Stay;
    }
    // The least busy other thread, loads within a tenth of each other counting as equal so the
    // lowest such thread is chosen (an idle thread 1 rather than an equally idle thread 2).
    let least = (0..loads.len()).filter(|&other| other != index).min_by_key(|&other| (loads[other].0 / 100, other));
    if let Some(to) = least {
        let idle = loads[to].0;
        // One client alone cannot be split, and a thread with no CPU to run on takes nobody.
        let room = spare.is_none_or(|spare| spare >= SPARE_TO_SPREAD);
        if busy >= SATURATED && idle < TAKES_CLIENTS && clients > 1 && room {
            // Half the difference in load, in clients (at least one).
            let share = clients * (busy - idle) as usize / (2 * busy as usize);
            return Plan::Spread { clients: share.max(1), to };
        }
    }
    // Onto the first thread, or onto a lower one that serves clients already: not onto an idle
    // extra thread, which would only move the same clients somewhere else that is just as free.
    match (0..index).find(|&lower| (lower == 0 || loads[lower].1 > 0) && loads[lower].0 + busy < CONSOLIDATE) {
        Some(to) => Plan::FitsLower { to },
        None => Plan::Stay,
    }
}

/// The balancer's memory between samples.
#[derive(Default)]
struct Balancer {
    /// Samples left before the next move: the samples just after one do not show its effect yet.
    cooldown: u32,
    /// For each thread, how many samples in a row it was saturated (with somewhere to shed to), and
    /// how many its clients would have fit on a lower thread.
    streaks: Vec<(u32, u32)>,
    spare: Spare,
}

impl Balancer {
    /// Each thread's (clients to shed, thread to shed them to) after one more sample of every
    /// thread's (busy per mille, clients): a plan acts only once it held for its streak, and no
    /// plan acts in the samples right after a move.
    fn quotas(&mut self, loads: &[(u32, usize)], spare: Option<u32>) -> Vec<(usize, usize)> {
        self.streaks.resize(loads.len(), (0, 0));
        let moving = self.cooldown > 0;
        self.cooldown = self.cooldown.saturating_sub(1);
        let mut quotas = Vec::with_capacity(loads.len());
        for index in 0..loads.len() {
            let streak = &mut self.streaks[index];
            let (shed, to) = match plan(loads, index, spare) {
                // Samples taken while clients were moving do not show where they went: wait.
                _ if moving => (0, index),
                Plan::Stay => {
                    *streak = (0, 0);
                    (0, index)
                }
                Plan::Spread { clients, to } => {
                    *streak = (streak.0 + 1, 0);
                    if streak.0 >= SATURATED_SAMPLES {
                        (clients, to)
                    } else {
                        (0, index)
                    }
                }
                Plan::FitsLower { to } => {
                    *streak = (0, streak.1 + 1);
                    if streak.1 >= CALM_SAMPLES {
                        (loads[index].1, to)
                    } else {
                        (0, index)
                    }
                }
            };
            if shed > 0 {
                tracing::debug!(from = index, to, shed, ?loads, "moving clients between threads");
                self.cooldown = COOLDOWN_SAMPLES;
                *streak = (0, 0);
            }
            quotas.push((shed, to));
        }
        quotas
    }
}

/// The machine's idle CPU between two samples of the balancer, read only while it matters.
#[derive(Default)]
struct Spare {
    /// The last reading ([`machine_idle`]) and when it was taken; `None` after a sample that
    /// needed none.
    last: Option<(Instant, Option<Duration>)>,
}

impl Spare {
    /// The idle CPU since the last reading, per mille of one CPU, when `needed`: `Some(0)` for the
    /// first reading of a run (nothing to compare yet: no room is assumed), `None` where
    /// /proc/stat cannot be read (then a saturated thread sheds as if there were room).
    fn sample(&mut self, needed: bool) -> Option<u32> {
        if !needed {
            self.last = None;
            return Some(0);
        }
        let now = (Instant::now(), machine_idle());
        let spare = match (self.last, now.1) {
            (_, None) => None,
            (Some((at, Some(before))), Some(idle)) => Some(spare_per_mille(before, idle, now.0.duration_since(at))),
            _ => Some(0),
        };
        self.last = Some(now);
        spare
    }
}

/// Called by a connection between batches with nothing owed: `Some(thread)` when it is to hand
/// itself over to that thread. Costs a thread-local read and a relaxed load when nothing moves.
pub fn hand_over_to() -> Option<usize> {
    HERE.with_borrow(|here| {
        let here = here.as_ref()?;
        if here.hand_over_every > 0 {
            let batches = here.batches.get() + 1;
            here.batches.set(batches);
            if batches % here.hand_over_every == 0 {
                return Some(here.next);
            }
        }
        if here.load.shed.load(Ordering::Relaxed) == 0 {
            return None;
        }
        here.load.shed.fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| n.checked_sub(1)).ok()?;
        let to = here.load.shed_to.load(Ordering::Relaxed);
        (to != here.index).then_some(to)
    })
}

/// Marks the calling thread as worker `index` of several.
fn enter((index, next, load, hand_over_every): (usize, usize, Arc<Load>, u64)) {
    HERE.set(Some(Here { index, next, load, hand_over_every, batches: Cell::new(0) }));
}

/// Idle CPU time so far of the CPUs this process may run on (its affinity: under `taskset -c 1`
/// an idle CPU 0 is no room for a second thread), from /proc/stat; `None` where it cannot be read.
fn machine_idle() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok();
    Some(idle_of(&stat, |cpu| allowed.is_none_or(|set| set.is_set(cpu).unwrap_or(false))))
}

/// Idle and I/O-wait time in a /proc/stat text, summed over the `cpuN` lines whose N `counts`.
fn idle_of(stat: &str, counts: impl Fn(usize) -> bool) -> Duration {
    let ticks: u64 = stat
        .lines()
        .filter_map(|line| {
            // `cpuN user nice system idle iowait ...`; the total line (`cpu  ...`) has no N.
            let (number, fields) = line.strip_prefix("cpu")?.split_once(' ')?;
            let cpu: usize = number.parse().ok()?;
            if !counts(cpu) {
                return None;
            }
            let mut fields = fields.split_whitespace().map(|field| field.parse::<u64>().ok());
            Some(fields.nth(3)?? + fields.next().flatten().unwrap_or(0))
        })
        .sum();
    // Counted in USER_HZ, which the kernel fixes at 100 for user space on x86 and ARM.
    Duration::from_millis(ticks.saturating_mul(10))
}

/// The idle CPU between two readings of [`machine_idle`] `wall` apart, per mille of one CPU.
fn spare_per_mille(before: Duration, now: Duration, wall: Duration) -> u32 {
    let per_mille = now.saturating_sub(before).as_micros() * 1000 / wall.as_micros().max(1);
    u32::try_from(per_mille).unwrap_or(u32::MAX)
}

/// CPU time the calling thread has used (zero if the clock cannot be read: it then looks idle,
/// and nothing is moved away from it).
fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

impl Drop for Workers {
    /// Stops every extra thread's runtime and waits for the threads. Runs when the last reference
    /// goes: a client still served on an extra thread holds one (`server::Serving`), so at exit with
    /// such a client nothing is stopped here and the process ends around it.
    fn drop(&mut self) {
        for thread in &mut self.threads {
            drop(thread.stop.take());
        }
        for thread in &mut self.threads {
            // The last reference may go on a worker thread itself, which cannot wait for itself.
            let Some(joined) = thread.thread.take() else { continue };
            if joined.thread().id() != std::thread::current().id() && joined.join().is_err() {
                tracing::error!("a worker thread panicked");
            }
        }
    }
}

/// One client counted on a thread while its task lives (even if it panics).
struct Counted(Arc<Load>);

impl Counted {
    fn new(load: &Arc<Load>) -> Counted {
        load.clients.fetch_add(1, Ordering::Relaxed);
        Counted(Arc::clone(load))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saturated_thread_sheds_half_the_difference_to_the_least_busy() {
        assert_eq!(plan(&[(1000, 50), (0, 0)], 0, None), Plan::Spread { clients: 25, to: 1 });
        assert_eq!(plan(&[(950, 40), (300, 10), (100, 0)], 0, None), Plan::Spread { clients: 17, to: 2 });
        assert_eq!(plan(&[(1000, 2), (0, 0)], 0, None), Plan::Spread { clients: 1, to: 1 });
        assert_eq!(plan(&[(1000, 1), (0, 0)], 0, None), Plan::Stay);
        // Not saturated, or nowhere to go: nothing moves.
        assert_eq!(plan(&[(850, 50), (0, 0)], 0, None), Plan::Stay);
        assert_eq!(plan(&[(1000, 25), (950, 25)], 0, None), Plan::Stay);
    }

    #[test]
    fn an_extra_thread_gives_its_clients_back_when_they_fit_lower() {
        assert_eq!(plan(&[(300, 10), (200, 5)], 1, None), Plan::FitsLower { to: 0 });
        assert_eq!(plan(&[(500, 10), (300, 5)], 1, None), Plan::Stay);
        // The first thread has nowhere lower to go.
        assert_eq!(plan(&[(100, 10), (0, 0)], 0, None), Plan::Stay);
        assert_eq!(plan(&[(0, 0), (0, 0)], 1, None), Plan::Stay);
        // Not onto an idle extra thread: the clients would only change places.
        assert_eq!(plan(&[(900, 10), (1, 0), (451, 10)], 2, None), Plan::Stay);
        assert_eq!(plan(&[(200, 10), (1, 0), (451, 10)], 2, None), Plan::FitsLower { to: 0 });
    }

    #[test]
    fn a_saturated_thread_keeps_its_clients_while_the_machine_has_no_cpu_to_spare() {
        assert_eq!(plan(&[(1000, 50), (0, 0)], 0, Some(120)), Plan::Stay);
        assert_eq!(plan(&[(1000, 50), (0, 0)], 0, Some(499)), Plan::Stay);
        assert_eq!(plan(&[(1000, 50), (0, 0)], 0, Some(500)), Plan::Spread { clients: 25, to: 1 });
        assert_eq!(plan(&[(1000, 50), (0, 0)], 0, Some(1800)), Plan::Spread { clients: 25, to: 1 });
        // Giving clients back to a lower thread needs no spare CPU.
        assert_eq!(plan(&[(300, 10), (200, 5)], 1, Some(0)), Plan::FitsLower { to: 0 });
    }

    #[test]
    fn the_balancer_acts_after_a_streak_and_waits_after_a_move() {
        let mut balancer = Balancer::default();
        let saturated = [(1000, 50), (0, 0)];
        // Two saturated samples move nobody; the third sheds half the difference.
        assert_eq!(balancer.quotas(&saturated, Some(1000)), [(0, 0), (0, 1)]);
        assert_eq!(balancer.quotas(&saturated, Some(1000)), [(0, 0), (0, 1)]);
        assert_eq!(balancer.quotas(&saturated, Some(1000)), [(25, 1), (0, 1)]);
        // The two samples after a move do not show it yet: nothing moves, whatever they say.
        assert_eq!(balancer.quotas(&saturated, Some(1000)), [(0, 0), (0, 1)]);
        assert_eq!(balancer.quotas(&saturated, Some(1000)), [(0, 0), (0, 1)]);
        // And the streak starts over after them.
        assert_eq!(balancer.quotas(&saturated, Some(1000)), [(0, 0), (0, 1)]);
        // No room on the machine breaks a streak.
        assert_eq!(balancer.quotas(&saturated, Some(1000)), [(0, 0), (0, 1)]);
        assert_eq!(balancer.quotas(&saturated, Some(100)), [(0, 0), (0, 1)]);
        assert_eq!(balancer.quotas(&saturated, Some(1000)), [(0, 0), (0, 1)]);
        // An extra thread gives its clients back after a calm second.
        let mut balancer = Balancer::default();
        let calm = [(300, 10), (200, 5)];
        for _ in 1..CALM_SAMPLES {
            assert_eq!(balancer.quotas(&calm, Some(1000)), [(0, 0), (0, 1)]);
        }
        assert_eq!(balancer.quotas(&calm, Some(1000)), [(0, 0), (5, 0)]);
    }

    #[test]
    fn spare_cpu_is_read_only_while_a_thread_is_saturated() {
        let mut spare = Spare::default();
        assert_eq!(spare.sample(false), Some(0));
        assert!(spare.last.is_none(), "no reading while nothing is saturated");
        // The first reading has nothing to compare with: no room yet (or unknown without /proc/stat).
        let first = spare.sample(true);
        assert!(first == Some(0) || first.is_none());
        assert!(spare.last.is_some());
        std::thread::sleep(Duration::from_millis(30));
        if first.is_some() {
            // Idle CPU over 30 ms on at most all of this machine's CPUs.
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
            assert!(spare.sample(true).is_some_and(|per_mille| per_mille <= 1000 * cpus + 300));
        }
        assert_eq!(spare.sample(false), Some(0));
        assert!(spare.last.is_none());
    }

    #[test]
    fn idle_time_is_summed_over_the_allowed_cpus_only() {
        let stat = "cpu  900 0 300 5000 100 0 0 0 0 0\n\
                    cpu0 400 0 100 1000 40 0 0 0 0 0\n\
                    cpu1 500 0 200 4000 60 0 0 0 0 0\n\
                    intr 12345 0 0\nctxt 999\ncpu_fake 1 2 3 4 5\n";
        // Idle + iowait, in ticks of 10 ms.
        assert_eq!(idle_of(stat, |_| true), Duration::from_millis((1000 + 40 + 4000 + 60) * 10));
        assert_eq!(idle_of(stat, |cpu| cpu == 1), Duration::from_millis((4000 + 60) * 10));
        assert_eq!(idle_of(stat, |_| false), Duration::ZERO);
        // 150 ms of idle over 100 ms of wall time: one and a half CPUs to spare.
        let (before, now) = (Duration::from_millis(1000), Duration::from_millis(1150));
        assert_eq!(spare_per_mille(before, now, Duration::from_millis(100)), 1500);
        assert_eq!(spare_per_mille(now, before, Duration::from_millis(100)), 0);
        // This machine's own /proc/stat, where there is one, reads and only grows.
        if let Some(first) = machine_idle() {
            std::thread::sleep(Duration::from_millis(50));
            assert!(machine_idle().is_some_and(|later| later >= first));
        }
    }

    #[test]
    fn a_saturated_thread_sheds_to_the_lowest_of_equally_idle_threads() {
        assert_eq!(plan(&[(1000, 20), (1, 0), (0, 0)], 0, None), Plan::Spread { clients: 9, to: 1 });
        assert_eq!(plan(&[(1000, 20), (400, 5), (0, 0)], 0, None), Plan::Spread { clients: 10, to: 2 });
    }
}
