//! A few ONNX Runtime sessions shared by many threads: `Session::run` needs `&mut`, so each
//! caller takes a free session, or waits for one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

pub struct Pool<T> {
    items: Vec<Mutex<T>>,
    next: AtomicUsize,
}

impl<T> Pool<T> {
    pub fn new(items: Vec<T>) -> Pool<T> {
        assert!(!items.is_empty(), "a pool holds at least one item");
        Pool {
            items: items.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// A free item if there is one, else waits for the next one in turn.
    pub fn take(&self) -> MutexGuard<'_, T> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..self.items.len() {
            if let Ok(guard) = self.items[(start + offset) % self.items.len()].try_lock() {
                return guard;
            }
        }
        self.items[start % self.items.len()]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
