//! Admission control for photo analyses: each is admitted by its estimated
//! peak memory (`intake::AnalysisCost`) against one global budget and a
//! number of workers; the rest wait in a bounded first-come queue, and a
//! full queue is refused with an honest estimate of when to retry.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// What an analysis is assumed to take before any has finished, seconds.
const INITIAL_MEAN_SECS: f64 = 5.0;

/// Why an analysis was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It needs more than the whole budget: it can never run.
    NeverFits { needed_mib: u64, budget_mib: u64 },
    /// The wait queue is full; retry after this many seconds.
    QueueFull { retry_after_secs: u64 },
}

/// The global analysis budget, shared by every request.
#[derive(Debug)]
pub struct Admission {
    budget: u64,
    workers: usize,
    queue_max: usize,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug)]
struct State {
    in_use: u64,
    running: usize,
    /// Waiting tickets, oldest first; only the oldest may be admitted next.
    queue: VecDeque<u64>,
    next_ticket: u64,
    /// Moving average of how long an admitted analysis holds its slot.
    mean_secs: f64,
}

/// An admitted analysis: its memory and worker slot, released on drop.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    cost: u64,
    started: Instant,
}

/// Admission's figures, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    pub in_use_mib: u64,
    pub running: usize,
    pub waiting: usize,
}

impl Admission {
    /// `budget` bytes shared by at most `workers` analyses at once, and at
    /// most `queue_max` waiting.
    pub fn new(budget: u64, workers: usize, queue_max: usize) -> Arc<Self> {
        Arc::new(Admission {
            budget,
            workers: workers.max(1),
            queue_max,
            state: Mutex::new(State {
                in_use: 0,
                running: 0,
                queue: VecDeque::new(),
                next_ticket: 0,
                mean_secs: INITIAL_MEAN_SECS,
            }),
            changed: Notify::new(),
        })
    }

    /// The budget in bytes.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current figures.
    pub fn load(&self) -> Load {
        let s = self.lock();
        Load {
            in_use_mib: s.in_use >> 20,
            running: s.running,
            waiting: s.queue.len(),
        }
    }

    fn fits(&self, s: &State, cost: u64) -> bool {
        s.running < self.workers && s.in_use.saturating_add(cost) <= self.budget
    }

    /// Seconds until a newcomer behind everyone waiting would likely start:
    /// the queue ahead and the running analyses, drained `workers` at a
    /// time at the measured mean duration.
    fn retry_after(&self, s: &State) -> u64 {
        let rounds = (s.queue.len() + s.running).div_ceil(self.workers).max(1);
        (s.mean_secs * rounds as f64).ceil().max(1.0) as u64
    }

    /// Waits (in the bounded queue) until `cost` bytes and a worker are free.
    /// Dropping the future while it waits leaves the queue.
    pub async fn admit(self: &Arc<Self>, cost: u64) -> Result<Permit, Refusal> {
        if cost > self.budget {
            return Err(Refusal::NeverFits {
                needed_mib: cost.div_ceil(1 << 20),
                budget_mib: self.budget >> 20,
            });
        }
        let ticket = {
            let mut s = self.lock();
            if s.queue.is_empty() && self.fits(&s, cost) {
                return Ok(self.grant(&mut s, cost));
            }
            if s.queue.len() >= self.queue_max {
                return Err(Refusal::QueueFull {
                    retry_after_secs: self.retry_after(&s),
                });
            }
            let t = s.next_ticket;
            s.next_ticket += 1;
            s.queue.push_back(t);
            t
        };
        let mut waiting = Waiting {
            admission: self,
            ticket,
            done: false,
        };
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                if s.queue.front() == Some(&ticket) && self.fits(&s, cost) {
                    s.queue.pop_front();
                    waiting.done = true;
                    let permit = self.grant(&mut s, cost);
                    drop(s);
                    // The next in line may fit too.
                    self.changed.notify_waiters();
                    return Ok(permit);
                }
            }
            notified.await;
        }
    }

    fn grant(self: &Arc<Self>, s: &mut State, cost: u64) -> Permit {
        s.in_use += cost;
        s.running += 1;
        Permit {
            admission: self.clone(),
            cost,
            started: Instant::now(),
        }
    }
}

/// Leaves the queue if the waiting request is dropped (timeout, disconnect).
struct Waiting<'a> {
    admission: &'a Admission,
    ticket: u64,
    done: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut s = self.admission.lock();
            s.queue.retain(|&t| t != self.ticket);
            drop(s);
            self.admission.changed.notify_waiters();
        }
    }
}

impl Permit {
    /// The bytes this analysis was charged.
    pub fn cost(&self) -> u64 {
        self.cost
    }

    /// How long the slot has been held.
    pub fn held(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let secs = self.started.elapsed().as_secs_f64();
        let mut s = self.admission.lock();
        s.in_use = s.in_use.saturating_sub(self.cost);
        s.running = s.running.saturating_sub(1);
        s.mean_secs = 0.8 * s.mean_secs + 0.2 * secs;
        drop(s);
        self.admission.changed.notify_waiters();
    }
}

/// The default budget: half of the machine's memory (`MemTotal` in
/// `/proc/meminfo`), leaving the rest to the models, SQLite, the page cache
/// and everything else; 4 GiB where the total cannot be read.
pub fn default_analysis_budget() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| kib.saturating_mul(1024));
    total.map_or(4 << 30, |t| t / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_cost_over_the_whole_budget_is_refused_at_once() {
        let adm = Admission::new(100 << 20, 2, 4);
        let got = rt().block_on(adm.admit(101 << 20));
        assert_eq!(
            got.unwrap_err(),
            Refusal::NeverFits {
                needed_mib: 101,
                budget_mib: 100
            }
        );
    }

    #[test]
    fn memory_and_workers_bound_what_runs_and_the_queue_is_bounded() {
        rt().block_on(async {
            let adm = Admission::new(100, 3, 1);
            let a = adm.admit(60).await.expect("fits");
            // 60 + 60 > 100: the second waits in the queue.
            let adm2 = adm.clone();
            let second = tokio::spawn(async move { adm2.admit(60).await.map(|p| p.cost()) });
            tokio::task::yield_now().await;
            assert_eq!(adm.load().waiting, 1);
            // The queue holds one: a third is refused with a retry time.
            match adm.admit(10).await {
                Err(Refusal::QueueFull { retry_after_secs }) => {
                    assert!(retry_after_secs >= 1)
                }
                other => panic!("expected a full queue, got {other:?}"),
            }
            assert_eq!(adm.load().in_use_mib, 0);
            drop(a);
            assert_eq!(second.await.expect("task"), Ok(60));
            assert_eq!(adm.load().waiting, 0);
        });
    }

    #[test]
    fn a_dropped_waiter_leaves_the_queue() {
        rt().block_on(async {
            let adm = Admission::new(100, 1, 2);
            let a = adm.admit(10).await.expect("fits");
            {
                let waiting = adm.admit(10);
                tokio::pin!(waiting);
                // Poll once so it joins the queue, then drop it.
                let polled = futures_poll_once(waiting.as_mut()).await;
                assert!(polled.is_none());
                assert_eq!(adm.load().waiting, 1);
            }
            assert_eq!(adm.load().waiting, 0);
            drop(a);
            assert!(adm.admit(10).await.is_ok());
        });
    }

    /// Polls a future once; `Some` if it finished.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        let mut f = f;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
