//! A [`UnitOfWork`] as SQLite statements: each [`Write`] appended by its aggregate's module,
//! where its SQL lives.

use super::batch::Batch;
use super::{
    blob, boundary, checkpoint, component, delivery, execution, experiment, file_commit, join, lease, outbox,
    tenant, workflow,
};
use crate::db::DbError;
use crate::db::port::{UnitOfWork, Write};

/// The unit's statements, in its order, as one batch for the writer. A run of checkpoints is
/// one statement (a node's exit writes its exit and the next entry together).
pub fn compile(work: UnitOfWork, dialect: super::Dialect) -> Result<Batch, DbError> {
    let writes = work.into_writes();
    // A node's exit binds about a dozen values per write: sized once, not grown by doubling.
    let mut batch = Batch::with_capacity(writes.len(), writes.len() * 12);
    let mut writes = writes.into_iter().peekable();
    while let Some(write) = writes.next() {
        let b = &mut batch;
        match write {
            Write::Checkpoint(first) => {
                let mut run = vec![first];
                while let Some(Write::Checkpoint(next)) =
                    writes.next_if(|w| matches!(w, Write::Checkpoint(_)))
                {
                    run.push(next);
                }
                checkpoint::insert_into(b, &run)
            }
            Write::Blob(r) => blob::insert_into(b, &r),
            Write::Component(r) => component::insert_into(b, &r),
            Write::Workflow(r) => workflow::insert_into(b, &r),
            Write::FileCommit(c) => file_commit::insert_into(b, &c)?,
            Write::SupersedeCheckpoint(id, at) => checkpoint::supersede_into(b, id, at),
            Write::Boundary(n) => boundary::insert_into(b, &n),
            Write::CloseBoundary(n) => boundary::finish_into(b, &n),
            Write::SupersedeBoundary(id, at) => boundary::supersede_into(b, id, at),
            Write::Execution(e, lease) => {
                let driven = lease.as_ref().map(|l| execution::Driven {
                    owner: l.owner.as_deref(),
                    lease_until: l.until,
                    breakpoints: &l.breakpoints,
                });
                execution::insert_into(b, &e, driven.as_ref());
            }
            Write::Progress { execution: id, status, cursor, error, at, fence } => {
                let progress =
                    execution::Progress { status, cursor: cursor.as_deref(), error: error.as_deref() };
                execution::set_progress_into(b, id, &progress, at, fence)
            }
            Write::RolledBack { execution: id, cursor, at } => {
                execution::rolled_back_into(b, id, cursor.as_deref(), at)
            }
            Write::Release(id) => lease::release_into(b, id),
            Write::Fence { execution: id, token } => lease::fence_into(b, id, token),
            Write::Wake => lease::wake_into(b, dialect),
            Write::Arrive(id, a) => join::insert_into(b, id, &a),
            Write::Consume(id, a, consumed) => join::set_consumed_into(b, id, &a, consumed),
            Write::Depart(id, a) => join::delete_into(b, id, &a),
            Write::Events(events) => outbox::insert_all_into(b, &events),
            Write::NoQuotas(id) => tenant::no_quotas_into(b, id),
            Write::Tenant(t) => tenant::insert_into(b, &t),
            Write::Token { token, hash } => tenant::insert_token_into(b, &token, &hash),
            Write::Experiment(e) => experiment::insert_into(b, &e)?,
            Write::Settle { sink, owner, at, settled } => {
                delivery::settle_into(b, &sink, &owner, at, &settled)
            }
        }
    }
    Ok(batch)
}
