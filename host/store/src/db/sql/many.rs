//! Reads that name several rows at once, each with its tenant: a worker picks up a batch of
//! claimed executions (of any tenants) in a few statements instead of a few per execution.

use super::Query;
use uuid::Uuid;
use wtb_core::model::{ExecutionId, TenantId};

/// Most pairs one statement names: far below either backend's parameter limit.
pub const PAIRS_PER_READ: usize = 256;

/// `((a.id = ? AND a.tenant_id = ?) OR …)` for `n` pairs on the table alias `a`: a condition
/// both backends plan as lookups of the primary key (a join with a `VALUES` list lets
/// PostgreSQL pick a scan of the tenant's rows when its statistics are stale).
pub fn pairs(alias: &str, n: usize) -> String {
    format!("({})", vec![format!("({alias}.id = ? AND {alias}.tenant_id = ?)"); n].join(" OR "))
}

/// Binds `(tenant, id)` pairs in the order [`pairs`] expects.
pub fn bind_pairs(q: Query, which: impl IntoIterator<Item = (Uuid, Uuid)>) -> Query {
    which.into_iter().fold(q, |q, (tenant, id)| q.bind(id).bind(tenant))
}

/// `column IN (?, …) AND` [`pairs`] on `e`: rows whose `column` names one of `n` executions,
/// with those executions joined as `e` to check each one's tenant. The plain list lets the
/// planner look the rows up by `column`'s index whatever it believes about `e`.
pub fn of_executions(column: &str, n: usize) -> String {
    format!("{column} IN ({}) AND {}", vec!["?"; n].join(", "), pairs("e", n))
}

/// Binds executions in the order [`of_executions`] expects.
pub fn bind_executions(q: Query, which: &[(TenantId, ExecutionId)]) -> Query {
    let q = which.iter().fold(q, |q, (_, e)| q.bind(e.uuid()));
    bind_pairs(q, which.iter().map(|(t, e)| (t.uuid(), e.uuid())))
}

/// `columns` (a `, `-separated list) qualified with the table alias `alias`.
pub fn qualified(columns: &str, alias: &str) -> String {
    columns.split(',').map(|c| format!("{alias}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_qualified_columns_are_spelled_for_both_backends() {
        assert_eq!(pairs("e", 2), "((e.id = ? AND e.tenant_id = ?) OR (e.id = ? AND e.tenant_id = ?))");
        assert_eq!(qualified("id, execution_id,\n seq", "c"), "c.id, c.execution_id, c.seq");
    }
}
