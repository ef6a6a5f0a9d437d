//! Keeping a store under its capacity: spilling the oldest large values nobody reads to
//! the node's spill directory, and bringing one back when it is read.

use std::sync::Arc;

use super::{HINT_SLACK, MemoryStore, State, StoredValue};
use crate::ids::ObjectId;
use crate::store::spill::remove_file;
use crate::{Error, Result};

impl MemoryStore {
    /// Brings a spilled value back into memory (making room first). A spill file that
    /// cannot be read loses the object: every reader gets `ObjectLost`.
    pub(super) fn restore(&self, id: ObjectId) -> Result<StoredValue> {
        let (path, size, decode) = match self.table.lock().slots.get(&id).map(|s| &s.state) {
            Some(State::Spilled { path, size, decode }) => (path.clone(), *size, *decode),
            // Restored (or freed) by another reader meanwhile.
            _ => {
                return self
                    .peek(id)
                    .unwrap_or_else(|| Err(Error::unreferenced(id)));
            }
        };
        let value = std::fs::read(&path)
            .map_err(|e| Error::ObjectLost {
                object_id: id,
                reason: format!("its spilled copy {} cannot be read: {e}", path.display()),
            })
            .and_then(|bytes| decode(&bytes));
        if let Ok(v) = &value {
            self.make_room(v.size);
        }
        let mut guard = self.table.lock();
        let t = &mut *guard;
        let Some(slot) = t.slots.get_mut(&id) else {
            return Err(Error::unreferenced(id));
        };
        if !matches!(&slot.state, State::Spilled { path: p, .. } if *p == path) {
            drop(guard);
            return self
                .peek(id)
                .unwrap_or_else(|| Err(Error::unreferenced(id)));
        }
        t.spilled -= 1;
        t.spilled_bytes -= size;
        match &value {
            Ok(v) => {
                slot.state = State::Ready(v.clone());
                t.add(id, v, true);
                self.sync_hint(t);
                tracing::debug!(node_id = %self.node_id, object_id = %id, bytes = size, "spilled object restored");
            }
            Err(e) => {
                tracing::error!(node_id = %self.node_id, object_id = %id, error = %e, "spilled object lost");
                t.ready -= 1;
                slot.state = State::Failed(e.clone());
            }
        }
        drop(guard);
        remove_file(&path);
        value
    }

    /// Spills the oldest large values nobody reads until `need` more bytes fit under the
    /// capacity (Ray blocks a `put` while it spills, too). Values stay in memory when none
    /// can go: a store never loses or refuses an object for being full.
    pub(super) fn make_room(&self, need: usize) {
        let Some(spill) = &self.spill else {
            return;
        };
        let hint = self.bytes_hint.load(std::sync::atomic::Ordering::Relaxed);
        if hint.saturating_add(need).saturating_add(HINT_SLACK) <= spill.capacity {
            return;
        }
        let victims = {
            let mut t = self.table.lock();
            let Some(mut over) = (t.bytes + need).checked_sub(spill.capacity) else {
                return;
            };
            let mut victims = Vec::new();
            for _ in 0..t.order.len() {
                if over == 0 {
                    break;
                }
                let Some(id) = t.order.pop_front() else {
                    break;
                };
                let Some(State::Ready(v)) = t.slots.get(&id).map(|s| &s.state) else {
                    continue;
                };
                if v.spillable() {
                    over = over.saturating_sub(v.size);
                    victims.push((id, v.clone()));
                } else {
                    // Read right now: it stays in line.
                    t.order.push_back(id);
                }
            }
            victims
        };
        if victims.is_empty() {
            tracing::debug!(node_id = %self.node_id, need, capacity = spill.capacity,
                "object store over capacity with nothing to spill (every large value is in use)");
        }
        for (id, v) in victims {
            let written = (v.encode)(&v.value).and_then(|encoded| {
                spill.write(id, &encoded.into_bulk().pieces()).map_err(|e| {
                    Error::Serialization(format!("cannot spill to {}: {e}", spill.dir().display()))
                })
            });
            let old = {
                let mut t = self.table.lock();
                let t = &mut *t;
                match (t.slots.get_mut(&id), written) {
                    // Still the same value, and still nobody else holds it (our clone
                    // is the second count).
                    (Some(slot), Ok(path))
                        if matches!(&slot.state, State::Ready(cur)
                            if Arc::ptr_eq(&cur.value, &v.value)
                                && Arc::strong_count(&v.value) == 2) =>
                    {
                        t.bytes -= v.size;
                        self.bytes_hint
                            .store(t.bytes, std::sync::atomic::Ordering::Relaxed);
                        t.spilled += 1;
                        t.spilled_bytes += v.size;
                        let spilled = State::Spilled {
                            path,
                            size: v.size,
                            decode: v.decode,
                        };
                        Some(std::mem::replace(&mut slot.state, spilled))
                    }
                    (slot, written) => {
                        if let Ok(path) = written {
                            remove_file(&path);
                        } else if let Err(e) = written {
                            tracing::warn!(node_id = %self.node_id, object_id = %id, error = %e, "spilling failed: the object stays in memory");
                        }
                        if slot.is_some_and(|s| matches!(&s.state, State::Ready(_))) {
                            t.order.push_back(id);
                        }
                        None
                    }
                }
            };
            if old.is_some() {
                tracing::debug!(node_id = %self.node_id, object_id = %id, bytes = v.size, "object spilled");
            }
            // The value's memory is freed here, outside the lock.
            drop((old, v));
        }
    }
}
