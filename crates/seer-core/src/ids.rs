use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Dense index of a user, `0..n_users`.
pub type UserIdx = u32;
/// Dense index of an item, `0..n_items`.
pub type ItemIdx = u32;

/// A two-way map between original string ids and dense `u32` indices, in order of first
/// appearance.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct IdMap {
    ids: Vec<String>,
    index: HashMap<String, u32>,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `id`, inserting it at the end if it is new.
    pub fn get_or_insert(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = u32::try_from(self.ids.len()).expect("more than 4 billion ids");
        self.ids.push(id.to_owned());
        self.index.insert(id.to_owned(), i);
        i
    }

    /// The index of `id`, if known.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The original id of index `i`.
    pub fn id(&self, i: u32) -> Option<&str> {
        self.ids.get(i as usize).map(String::as_str)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no id was inserted.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// All original ids, in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// A new map holding only the ids whose index is kept by `keep`, renumbered densely in the
    /// old order. Returns the map and `old index -> new index` (`u32::MAX` for dropped ids).
    pub fn retain(&self, keep: impl Fn(u32) -> bool) -> (IdMap, Vec<u32>) {
        let mut out = IdMap::new();
        let mut remap = vec![u32::MAX; self.ids.len()];
        for (i, id) in self.ids.iter().enumerate() {
            if keep(i as u32) {
                remap[i] = out.get_or_insert(id);
            }
        }
        (out, remap)
    }
}

impl From<Vec<String>> for IdMap {
    fn from(ids: Vec<String>) -> Self {
        let mut m = IdMap::new();
        for id in &ids {
            m.get_or_insert(id);
        }
        m
    }
}

impl From<IdMap> for Vec<String> {
    fn from(m: IdMap) -> Self {
        m.ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_in_order_of_first_appearance() {
        let mut m = IdMap::new();
        assert_eq!(m.get_or_insert("b"), 0);
        assert_eq!(m.get_or_insert("a"), 1);
        assert_eq!(m.get_or_insert("b"), 0);
        assert_eq!(m.id(1), Some("a"));
        assert_eq!(m.get("zzz"), None);
        let (kept, remap) = m.retain(|i| i == 1);
        assert_eq!(kept.ids(), &["a".to_string()]);
        assert_eq!(remap, vec![u32::MAX, 0]);
    }

    #[test]
    fn serde_round_trip() {
        let m: IdMap = vec!["x".to_string(), "y".to_string()].into();
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(s, r#"["x","y"]"#);
        let back: IdMap = serde_json::from_str(&s).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.get("y"), Some(1));
    }
}
