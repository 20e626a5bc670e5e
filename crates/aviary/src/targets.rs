//! Which components a process runs (`--target`).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    Gateway,
    Users,
    Posts,
    Timelines,
}

impl Component {
    pub const ALL: [Component; 4] = [Component::Gateway, Component::Users, Component::Posts, Component::Timelines];

    pub fn name(self) -> &'static str {
        match self {
            Component::Gateway => "gateway",
            Component::Users => "users",
            Component::Posts => "posts",
            Component::Timelines => "timelines",
        }
    }
}

/// The set of components to run; `all` is every one, in one process, which
/// is also the only mode that may use the embedded stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets(BTreeSet<Component>);

impl Targets {
    pub fn all() -> Self {
        Targets(Component::ALL.into_iter().collect())
    }
    pub fn is_all(&self) -> bool {
        self.0.len() == Component::ALL.len()
    }
    pub fn has(&self, c: Component) -> bool {
        self.0.contains(&c)
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
            let c = Component::ALL.into_iter().find(|c| c.name() == part).ok_or_else(|| {
                format!(
                    "unknown target {part:?}: use all, or a comma-separated list of gateway, users, posts, timelines"
                )
            })?;
            set.insert(c);
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
        let names: Vec<&str> = self.0.iter().map(|c| c.name()).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_lists_and_all() {
        assert!("all".parse::<Targets>().unwrap().is_all());
        assert!("gateway,users,posts,timelines".parse::<Targets>().unwrap().is_all());
        let t: Targets = "users, posts".parse().unwrap();
        assert!(t.has(Component::Users) && t.has(Component::Posts) && !t.has(Component::Gateway));
        assert_eq!(t.to_string(), "users,posts");
        assert!("users,media".parse::<Targets>().unwrap_err().contains("media"));
        assert!("".parse::<Targets>().is_err());
    }
}
