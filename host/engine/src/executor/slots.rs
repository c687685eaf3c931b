//! Attempt slots shared fairly between tenants.
//!
//! A process runs at most [`MAX_CONCURRENT_ATTEMPTS`](super::MAX_CONCURRENT_ATTEMPTS)
//! attempts at once. A first-come semaphore let one tenant's 64 sleeping nodes stall every
//! other tenant. Here each tenant holds at most its cap (`attempt_slots_per_tenant` in
//! `wtb.toml`, or the tenant's lower `max_running_attempts` quota), and a freed slot goes to
//! the waiting tenant that holds the fewest, oldest waiter first among equals: a tenant with
//! nothing running is served next, however many attempts another has queued.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use wtb_core::model::TenantId;

/// The slots of one process.
#[derive(Debug)]
pub struct FairSlots {
    state: Mutex<State>,
    per_tenant: usize,
}

#[derive(Debug)]
struct State {
    free: usize,
    running: HashMap<TenantId, usize>,
    /// Waiters in arrival order: tenant, its cap, where to send the grant.
    waiting: VecDeque<(TenantId, usize, oneshot::Sender<()>)>,
}

impl State {
    /// One free slot becomes `tenant`'s.
    fn take(&mut self, tenant: TenantId) {
        self.free -= 1;
        *self.running.entry(tenant).or_default() += 1;
    }
}

/// A held slot; dropping it hands the slot on.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<FairSlots>,
    tenant: TenantId,
}

impl FairSlots {
    /// `total` slots, at most `per_tenant` of them held by one tenant.
    pub fn new(total: usize, per_tenant: usize) -> Arc<Self> {
        let state = State { free: total, running: HashMap::new(), waiting: VecDeque::new() };
        Arc::new(Self { state: Mutex::new(state), per_tenant: per_tenant.max(1) })
    }

    /// Waits for a slot for `tenant`, which may hold at most `quota` (its
    /// `max_running_attempts`) or the host's per-tenant cap, whichever is lower. Cancel-safe:
    /// a waiter dropped before its turn takes nothing, and a slot granted to it as it is
    /// dropped goes to the next.
    pub async fn acquire(self: &Arc<Self>, tenant: TenantId, quota: Option<u64>) -> Slot {
        let cap = quota
            .map_or(self.per_tenant, |q| usize::try_from(q).unwrap_or(usize::MAX).clamp(1, self.per_tenant));
        let rx = {
            let mut s = self.lock();
            let held = s.running.get(&tenant).copied().unwrap_or(0);
            // Waiters exist only while no slot is free or they are at their cap, so a tenant
            // under its cap may take a free slot at once without jumping anyone.
            if s.free > 0 && held < cap {
                s.take(tenant);
                return Slot { slots: self.clone(), tenant };
            }
            let (tx, rx) = oneshot::channel();
            s.waiting.push_back((tenant, cap, tx));
            rx
        };
        // The sender is only dropped after granting (then `Ok`) or by the grant loop when
        // this receiver is gone; a closed channel cannot be observed here.
        let _ = rx.await;
        Slot { slots: self.clone(), tenant }
    }

    /// Attempts running for `tenant` now.
    #[cfg(test)]
    pub fn running(&self, tenant: TenantId) -> usize {
        self.lock().running.get(&tenant).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, tenant: TenantId) {
        let mut s = self.lock();
        if let Some(n) = s.running.get_mut(&tenant) {
            *n -= 1;
            if *n == 0 {
                s.running.remove(&tenant);
            }
        }
        s.free += 1;
        self.grant(&mut s);
    }

    /// Hands free slots to waiters: the waiter under its cap whose tenant holds fewest.
    fn grant(&self, s: &mut State) {
        while s.free > 0 {
            let held = |t: &TenantId| s.running.get(t).copied().unwrap_or(0);
            let best = s
                .waiting
                .iter()
                .enumerate()
                .filter(|(_, (t, cap, _))| held(t) < *cap)
                .min_by_key(|(i, (t, _, _))| (held(t), *i))
                .map(|(i, _)| i);
            let Some(i) = best else { return };
            let (tenant, _, tx) = s.waiting.remove(i).expect("index from the same queue");
            if tx.send(()).is_ok() {
                s.take(tenant);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release(self.tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tenant(n: u128) -> TenantId {
        TenantId::from_uuid(uuid::Uuid::from_u128(n))
    }

    /// Whether `fut` is still pending after the runtime had every chance to finish it.
    async fn pending<F: std::future::Future>(fut: F) -> bool {
        tokio::time::timeout(Duration::ZERO, fut).await.is_err()
    }

    #[tokio::test]
    async fn a_tenant_stops_at_its_cap_while_another_still_gets_a_slot() {
        let slots = FairSlots::new(4, 2);
        let (a, b) = (tenant(1), tenant(2));
        let _a1 = slots.acquire(a, None).await;
        let _a2 = slots.acquire(a, None).await;
        assert!(pending(slots.acquire(a, None)).await, "a third slot for `a` is over its cap");
        let _b1 = slots.acquire(b, None).await;
        assert_eq!((slots.running(a), slots.running(b)), (2, 1));
    }

    #[tokio::test]
    async fn a_freed_slot_goes_to_the_waiting_tenant_holding_fewest() {
        let slots = FairSlots::new(2, 2);
        let (a, b) = (tenant(1), tenant(2));
        let a1 = slots.acquire(a, None).await;
        let _a2 = slots.acquire(a, None).await;
        // `a` queued first, `b` second; `b` holds nothing, so it is served first.
        let mut a3 = Box::pin(slots.acquire(a, None));
        assert!(pending(&mut a3).await);
        let mut b1 = Box::pin(slots.acquire(b, None));
        assert!(pending(&mut b1).await);
        drop(a1);
        let _b1 = b1.await;
        assert!(pending(&mut a3).await, "`a` waits while `b` holds its one slot");
        assert_eq!((slots.running(a), slots.running(b)), (1, 1));
    }

    #[tokio::test]
    async fn a_tenant_s_own_quota_caps_it_below_the_host_s_cap() {
        let slots = FairSlots::new(8, 3);
        let (a, b) = (tenant(1), tenant(2));
        let _a1 = slots.acquire(a, Some(1)).await;
        assert!(pending(slots.acquire(a, Some(1))).await, "`a`'s quota is one slot");
        let _b1 = slots.acquire(b, Some(10)).await;
        let _b2 = slots.acquire(b, Some(10)).await;
        let _b3 = slots.acquire(b, Some(10)).await;
        assert!(pending(slots.acquire(b, Some(10))).await, "a quota above the host's cap is held to it");
    }

    #[tokio::test]
    async fn a_waiter_dropped_before_its_turn_takes_nothing() {
        let slots = FairSlots::new(1, 1);
        let (a, b) = (tenant(1), tenant(2));
        let a1 = slots.acquire(a, None).await;
        assert!(pending(slots.acquire(b, None)).await);
        drop(a1);
        assert_eq!(slots.running(b), 0, "the dropped waiter holds no slot");
        let _b = slots.acquire(b, None).await;
        assert_eq!(slots.running(b), 1);
    }
}
