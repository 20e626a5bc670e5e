//! Which components a process runs (`--target`), by their registered names.

use crate::registry;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The set of components to run; `all` is every registered one, in one
/// process, which is also the only mode that may use the embedded stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets(BTreeSet<&'static str>);

impl Targets {
    pub fn all() -> Self {
        Targets(registry::names().collect())
    }
    pub fn is_all(&self) -> bool {
        registry::names().all(|n| self.0.contains(n))
    }
    pub fn has(&self, component: &str) -> bool {
        self.0.contains(component)
    }
    pub fn names(&self) -> &BTreeSet<&'static str> {
        &self.0
    }
}

impl FromStr for Targets {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut set = BTreeSet::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                return Ok(Targets::all());
            }
            let name = registry::names().find(|n| *n == part).ok_or_else(|| {
                let known: Vec<&str> = registry::names().collect();
                format!("unknown target {part:?}: use all, or a comma-separated list of {}", known.join(", "))
            })?;
            set.insert(name);
        }
        if set.is_empty() {
            return Err("--target is empty: use all, or a list such as users,posts".into());
        }
        Ok(Targets(set))
    }
}

impl fmt::Display for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        // In start order, as the registry lists them.
        let names: Vec<&str> = registry::names().filter(|n| self.0.contains(n)).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_lists_and_all() {
        assert!("all".parse::<Targets>().unwrap().is_all());
        assert!("gateway,users,posts,timelines,notifications".parse::<Targets>().unwrap().is_all());
        assert!(!"gateway,users,posts,timelines".parse::<Targets>().unwrap().is_all());
        let t: Targets = "posts, users".parse().unwrap();
        assert!(t.has("users") && t.has("posts") && !t.has("gateway"));
        assert_eq!(t.to_string(), "users,posts");
        let e = "users,nonesuch".parse::<Targets>().unwrap_err();
        assert!(e.contains("nonesuch") && e.contains("timelines"), "{e}");
        assert!("".parse::<Targets>().is_err());
    }
}
