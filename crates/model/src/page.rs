//! Keyset pagination as Mastodon clients use it: `max_id` (older than),
//! `since_id` (newer than, newest first), `min_id` (immediately newer than,
//! i.e. paging backwards), and `limit`.

use crate::Id;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page {
    pub max_id: Option<Id>,
    pub since_id: Option<Id>,
    pub min_id: Option<Id>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageDirection {
    /// Newest first, below `max_id` and above `since_id`.
    Descending,
    /// The `limit` entries just above `min_id`, returned newest first.
    AscendingFromMin,
}

impl Page {
    pub const DEFAULT_LIMIT: usize = 20;
    pub const MAX_LIMIT: usize = 40;

    pub fn first(limit: usize) -> Self {
        Page { max_id: None, since_id: None, min_id: None, limit }
    }

    /// Lower exclusive bound: `min_id` wins over `since_id` when both are given.
    pub fn lower(&self) -> Option<Id> {
        self.min_id.or(self.since_id)
    }

    pub fn direction(&self) -> PageDirection {
        if self.min_id.is_some() { PageDirection::AscendingFromMin } else { PageDirection::Descending }
    }

    /// The SQL order a keyset query of this page reads its rows in
    /// (`DESC`, or `ASC` just above `min_id`); a constant, safe to format
    /// into a statement.
    pub fn sql_order(&self) -> &'static str {
        match self.direction() {
            PageDirection::Descending => "DESC",
            PageDirection::AscendingFromMin => "ASC",
        }
    }

    pub fn admits(&self, id: Id) -> bool {
        self.max_id.is_none_or(|m| id < m) && self.lower().is_none_or(|l| id > l)
    }

    /// Applies the page to ids sorted newest first; returns newest first.
    pub fn apply_desc<T: Copy>(&self, sorted_desc: &[T], key: impl Fn(&T) -> Id) -> Vec<T> {
        let inside = sorted_desc.iter().copied().filter(|t| self.admits(key(t)));
        match self.direction() {
            PageDirection::Descending => inside.take(self.limit).collect(),
            PageDirection::AscendingFromMin => {
                let mut all: Vec<T> = inside.collect();
                let skip = all.len().saturating_sub(self.limit);
                all.drain(..skip);
                all
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[i64]) -> Vec<Id> {
        v.iter().map(|&i| Id::from_i64(i)).collect()
    }

    #[test]
    fn pages_walk_down_and_back_up() {
        let all = ids(&[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        let p = Page::first(3);
        assert_eq!(p.apply_desc(&all, |i| *i), ids(&[10, 9, 8]));
        let next = Page { max_id: Some(Id::from_i64(8)), ..p };
        assert_eq!(next.apply_desc(&all, |i| *i), ids(&[7, 6, 5]));
        let prev = Page { min_id: Some(Id::from_i64(5)), ..p };
        assert_eq!(prev.apply_desc(&all, |i| *i), ids(&[8, 7, 6]));
        let since = Page { since_id: Some(Id::from_i64(5)), ..p };
        assert_eq!(since.apply_desc(&all, |i| *i), ids(&[10, 9, 8]));
    }
}
