//! One memory budget per store: the sum of every linear memory and every table of a connector
//! instance (all its core instances together) stays within `limits.memory_mb`. wasmtime's
//! `StoreLimits` caps each memory on its own, so a component with eight memories, or a
//! `table.grow` of 2^28 elements, would get eight times the cap or gigabytes of table.

use wasmtime::ResourceLimiter;

/// What one table element is counted as: a function reference is a pointer in wasmtime, and
/// counting two keeps a table-heavy guest honest about its metadata too.
pub(crate) const TABLE_ELEMENT_BYTES: usize = 16;

/// Core instances one store may create (the Python runtime makes about 20).
const MAX_INSTANCES: usize = 1_000;
/// Linear memories one store may create (each counted against the budget).
const MAX_MEMORIES: usize = 100;
/// Tables one store may create.
const MAX_TABLES: usize = 1_000;

/// The error a growth past the budget traps with; [`crate::classify`] turns it into
/// [`crate::HostError::Memory`].
#[derive(Debug, thiserror::Error)]
#[error(
    "growing a {what} by {add} bytes would take the store's memories and tables to {total} bytes, over its memory limit of {limit} bytes"
)]
pub(crate) struct OverBudget {
    pub what: &'static str,
    pub add: usize,
    pub total: usize,
    pub limit: usize,
}

/// The budget of one store: bytes of memories and tables granted so far.
#[derive(Debug)]
pub(crate) struct StoreBudget {
    limit: usize,
    used: usize,
}

impl StoreBudget {
    pub(crate) fn new(limit: usize) -> StoreBudget {
        StoreBudget { limit, used: 0 }
    }

    /// The most bytes of memories and tables this store may hold.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes of memories and tables this store holds.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    fn grow(&mut self, what: &'static str, add: usize) -> wasmtime::Result<bool> {
        let total = self.used.saturating_add(add);
        if total > self.limit {
            return Err(OverBudget {
                what,
                add,
                total,
                limit: self.limit,
            }
            .into());
        }
        self.used = total;
        Ok(true)
    }
}

impl ResourceLimiter for StoreBudget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // a new memory arrives as a growth from 0 to its initial size
        self.grow("linear memory", desired.saturating_sub(current))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let add = desired
            .saturating_sub(current)
            .saturating_mul(TABLE_ELEMENT_BYTES);
        self.grow("table", add)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_and_tables_share_one_budget() {
        let mut b = StoreBudget::new(100 << 20);
        for _ in 0..3 {
            assert!(b.memory_growing(0, 30 << 20, None).expect("fits"));
        }
        assert_eq!(b.used(), 90 << 20);
        // a fourth memory of 30 MiB would pass a per-memory cap, not the store's
        let err = b.memory_growing(0, 30 << 20, None).expect_err("over");
        assert!(err.to_string().contains("over its memory limit"), "{err}");
        // tables count too: 2^28 elements is far over what is left
        let err = b.table_growing(10, 1 << 28, None).expect_err("over");
        assert!(err.to_string().contains("growing a table"), "{err}");
        // a small table still fits in the 10 MiB left
        assert!(b.table_growing(0, 1_000, None).expect("fits"));
        assert_eq!(b.used(), (90 << 20) + 1_000 * TABLE_ELEMENT_BYTES);
    }
}
