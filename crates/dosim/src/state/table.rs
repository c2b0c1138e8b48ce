//! A table of resources named by strings (uuids, addresses), kept in creation order.
//!
//! DigitalOcean lists volumes, snapshots, firewalls and the rest oldest first, and pages through
//! them by position, so rows are ordered by a creation sequence and found by key through an
//! index. A row's key must never change while it is in the table.

use std::collections::{BTreeMap, HashMap};

/// A row that knows its own key.
pub trait Keyed {
    fn key(&self) -> &str;
}

/// Rows by creation order, with an index by key.
#[derive(Debug)]
pub struct Table<T> {
    rows: BTreeMap<u64, T>,
    index: HashMap<String, u64>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self { rows: BTreeMap::new(), index: HashMap::new() }
    }
}

impl<T: Keyed> Table<T> {
    /// Adds a row at position `sequence` (which must be later than every row's so far).
    pub fn insert(&mut self, sequence: u64, row: T) {
        self.index.insert(row.key().to_owned(), sequence);
        self.rows.insert(sequence, row);
    }

    pub fn get(&self, key: &str) -> Option<&T> {
        self.index.get(key).and_then(|sequence| self.rows.get(sequence))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut T> {
        self.index.get(key).and_then(|sequence| self.rows.get_mut(sequence))
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    pub fn remove(&mut self, key: &str) -> Option<T> {
        let sequence = self.index.remove(key)?;
        self.rows.remove(&sequence)
    }

    /// Every row, oldest first.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.rows.values()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.rows.values_mut()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(&'static str);

    impl Keyed for Row {
        fn key(&self) -> &str {
            self.0
        }
    }

    #[test]
    fn rows_come_back_in_creation_order_and_by_key() {
        let mut table = Table::default();
        table.insert(3, Row("zeta"));
        table.insert(7, Row("alpha"));
        table.insert(9, Row("mid"));
        assert_eq!(table.values().map(|r| r.0).collect::<Vec<_>>(), ["zeta", "alpha", "mid"]);
        assert!(table.contains("alpha"));
        assert_eq!(table.remove("alpha").map(|r| r.0), Some("alpha"));
        assert!(table.get("alpha").is_none());
        assert_eq!(table.len(), 2);
    }
}
