//! The bookkeeping both group-commit writers share: a queued unit ([`Job`]) and how jobs are
//! answered when their chain is poisoned or their group does not commit. The writers differ
//! only in how they talk to their database (SQLite on a thread of its own, PostgreSQL on an
//! async connection).

use super::Batch;
use crate::db::port::WriteError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Most jobs in one group: bounds the transaction (and the wait of the first in it).
pub const MAX_GROUP: usize = 128;

/// One unit of work waiting for a writer.
pub struct Job {
    /// The statements, run in the group's transaction (in a savepoint when one fails).
    pub batch: Batch,
    /// Undo it after running it (the `BeforeExitCommit` fault injection).
    pub roll_back: bool,
    /// A node's exit transaction (the commit failpoints count these), not a start.
    pub exit: bool,
    /// Set when one of the execution's batches failed: its later ones are refused.
    pub poisoned: Arc<AtomicBool>,
    /// Told once the group committed (or why not).
    pub reply: oneshot::Sender<Result<(), WriteError>>,
}

/// A job whose batch ran and waits for the commit: its reply, its chain's poison flag, and
/// whether it is a node's exit.
pub type Kept = (oneshot::Sender<Result<(), WriteError>>, Arc<AtomicBool>, bool);

/// Adds to `group` the jobs already queued behind it, up to [`MAX_GROUP`].
pub fn fill(group: &mut Vec<Job>, rx: &mut mpsc::UnboundedReceiver<Job>) {
    while group.len() < MAX_GROUP {
        match rx.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
}

/// How a writer under load gathers a larger group: while the jobs come from several
/// executions, it waits up to [`Gather::WAIT`] for [`Gather::ENOUGH`] of them before
/// committing. A group's cost is mostly fixed: its `COMMIT` writes a WAL frame for every
/// table and index page the group touched (37–41 of them for groups of 7–12 exits), and the
/// SQLite writer's CPU measured as ~175 µs per group plus ~50 µs per exit. So under load a
/// larger group costs less per exit; measured on 2,000 short executions, 64 at once: CPU per
/// node −11 %, throughput +10 % (medians of the ratios in two series of 10 alternated pairs;
/// waits of 150 to 1,000 µs measured alike or worse). One execution's jobs (a linear run, a fan-out)
/// arrive one node run apart, so waiting for them would only delay its end: they are never
/// held back.
#[derive(Debug, Default)]
pub struct Gather {
    /// The previous group came from several executions.
    busy: bool,
}

impl Gather {
    /// The longest wait for more jobs.
    pub const WAIT: std::time::Duration = std::time::Duration::from_micros(200);
    /// A group this large commits at once.
    pub const ENOUGH: usize = 24;
    /// Executions a group must come from (this group or the previous) to be held back.
    pub const SPREAD: usize = 4;

    /// Whether to wait for more jobs before committing `group`.
    pub fn wait(&self, group: &[Job]) -> bool {
        group.len() < Self::ENOUGH && (self.busy || chains(group) >= Self::SPREAD)
    }

    /// Records the group about to commit.
    pub fn committing(&mut self, group: &[Job]) {
        self.busy = chains(group) >= Self::SPREAD;
    }
}

/// How many executions' chains the jobs of `group` belong to (each chain has a poison flag of
/// its own).
pub fn chains(group: &[Job]) -> usize {
    let mut seen: Vec<*const AtomicBool> = group.iter().map(|job| Arc::as_ptr(&job.poisoned)).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// Answers a job whose execution already had a batch fail; passes the others on.
pub fn refuse_poisoned(job: Job) -> Option<Job> {
    if !job.poisoned.load(Ordering::Acquire) {
        return Some(job);
    }
    let _ = job.reply.send(Err(WriteError::Refused));
    None
}

/// What became of one job run in its own savepoint.
pub enum Ran {
    /// Its batch ran and is kept for the commit.
    Kept(Kept),
    /// It was answered (failed, or undone on request); its chain is poisoned.
    Answered,
}

/// Settles a job whose batch ran in its own savepoint with `result` (`Ok` when the savepoint
/// was released or, for `roll_back`, undone as asked).
pub fn settle(job: Job, result: Result<(), crate::db::DbError>) -> Ran {
    match result {
        Ok(()) if job.roll_back => {
            job.poisoned.store(true, Ordering::Release);
            let _ = job.reply.send(Err(WriteError::Undone));
            Ran::Answered
        }
        Ok(()) => Ran::Kept((job.reply, job.poisoned, job.exit)),
        Err(e) => {
            job.poisoned.store(true, Ordering::Release);
            let _ = job.reply.send(Err(e.into()));
            Ran::Answered
        }
    }
}

/// Tells the jobs whose batches ran that the transaction did not commit.
pub fn fail_kept(kept: Vec<Kept>, message: &str) {
    for (reply, poisoned, _) in kept {
        poisoned.store(true, Ordering::Release);
        let _ = reply.send(Err(WriteError::NotCommitted(message.to_owned())));
    }
}

/// Tells every job of `group` that the transaction did not commit.
pub fn fail_all(group: Vec<Job>, message: &str) {
    fail_kept(group.into_iter().map(|job| (job.reply, job.poisoned, job.exit)).collect(), message);
}

/// Answers the kept jobs of a group that committed (the `after-commit` failpoint counting
/// the node exits among them).
pub fn committed(kept: Vec<Kept>) {
    for (reply, _, exit) in kept {
        if exit {
            wtb_failpoint::hit("after-commit");
        }
        let _ = reply.send(Ok(()));
    }
}

/// The job a submission becomes: its unit compiled to one batch. A unit that does not
/// compile is answered at once, and its chain poisoned (its later units must not commit
/// without it).
pub fn job_of(s: crate::db::port::Submission, dialect: super::Dialect) -> Option<Job> {
    match super::compile(s.work, dialect) {
        Ok(batch) => {
            Some(Job { batch, roll_back: s.roll_back, exit: s.exit, poisoned: s.poisoned, reply: s.reply })
        }
        Err(e) => {
            s.poisoned.store(true, Ordering::Release);
            let _ = s.reply.send(Err(WriteError::Db(e)));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` jobs on `chain`.
    fn jobs(chain: &Arc<AtomicBool>, n: usize) -> Vec<Job> {
        (0..n)
            .map(|_| Job {
                batch: Batch::new(),
                roll_back: false,
                exit: true,
                poisoned: chain.clone(),
                reply: oneshot::channel().0,
            })
            .collect()
    }

    #[test]
    fn one_execution_s_jobs_are_never_held_back() {
        let chain = Arc::new(AtomicBool::new(false));
        let mut gather = Gather::default();
        let group = jobs(&chain, 20);
        assert_eq!(chains(&group), 1);
        assert!(!gather.wait(&group));
        gather.committing(&group);
        assert!(!gather.wait(&jobs(&chain, 1)));
    }

    #[test]
    fn jobs_of_several_executions_wait_for_a_larger_group_until_it_is_large_enough() {
        let spread: Vec<Arc<AtomicBool>> = (0..Gather::SPREAD).map(|_| Arc::default()).collect();
        let group: Vec<Job> = spread.iter().flat_map(|chain| jobs(chain, 2)).collect();
        assert_eq!(chains(&group), Gather::SPREAD);
        let mut gather = Gather::default();
        assert!(gather.wait(&group));
        let full: Vec<Job> = spread.iter().flat_map(|chain| jobs(chain, Gather::ENOUGH)).collect();
        assert!(!gather.wait(&full), "a group of {} commits at once", full.len());
        // Under load, a group that starts with one execution's job waits too; once the load
        // is gone (a group from one execution), the next does not.
        gather.committing(&group);
        let lone = jobs(&spread[0], 1);
        assert!(gather.wait(&lone));
        gather.committing(&lone);
        assert!(!gather.wait(&lone));
    }
}
