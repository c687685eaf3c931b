//! The wasmtime engine's settings: epoch interruption, fuel, and the pooling allocator sized
//! so that no node can take the slots other nodes need.

use super::limits::Tuning;
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Most node instances alive at once (parallel branches and concurrent executions).
const POOL_SLOTS: u32 = 128;

/// The engine settings. With `pooling`, instances reuse pre-reserved slots and the first
/// 2 MiB of each memory stay resident between uses, so a small node does not page-fault its
/// way through fresh memory on every attempt (measured: the largest per-node cost without it).
pub(super) fn engine_config(pooling: bool, tuning: Tuning) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(tuning.epoch);
    config.consume_fuel(tuning.fuel);
    config.max_wasm_stack(1 << 20);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    if pooling {
        let mut pool = PoolingAllocationConfig::new();
        // Per-component caps equal to the per-store ones, and totals that hold every slot's
        // worth: one node can never take the pool slots another needs.
        let (instances, memories, tables) = (
            super::state::MAX_CORE_INSTANCES as u32,
            super::state::MAX_MEMORIES as u32,
            super::state::MAX_TABLES as u32,
        );
        pool.total_component_instances(POOL_SLOTS)
            .max_core_instances_per_component(instances)
            .max_memories_per_component(memories)
            .max_tables_per_component(tables)
            .total_core_instances(POOL_SLOTS * instances)
            .total_memories(POOL_SLOTS * memories)
            .total_tables(POOL_SLOTS * tables)
            .total_stacks(POOL_SLOTS)
            // Per-node memory limits are enforced by the store's limiter; the pool only
            // needs room for the largest one wasm32 allows.
            .max_memory_size(4 << 30)
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}
