//! Every component the binary can run, in the order they start: a
//! component comes after the ones it calls (checked by a test). `--target`,
//! `[peers.<name>]` and its environment names, the split-mode checks,
//! `App::build`, the test harness's split system and `scripts/split-up`
//! (through `aviary --components`) all follow this list.
//!
//! Adding a component is one line here plus its configuration section
//! (a field of [`Config`] when it has settings).

use crate::config::Config;
use component::Component;
use std::any::Any;

/// A registered component and how it gets its settings from the file.
pub struct Registered {
    pub component: &'static dyn Component,
    pub settings: fn(&Config) -> Box<dyn Any + Send + Sync>,
}

fn none(_: &Config) -> Box<dyn Any + Send + Sync> {
    Box::new(())
}

pub static COMPONENTS: &[Registered] = &[
    Registered { component: &users::COMPONENT, settings: |c| Box::new(c.users.clone()) },
    Registered { component: &posts::COMPONENT, settings: none },
    Registered { component: &timelines::COMPONENT, settings: |c| Box::new(c.timelines.clone()) },
    Registered { component: &notifications::COMPONENT, settings: none },
    Registered { component: &gateway::COMPONENT, settings: |c| Box::new(c.gateway()) },
];

/// The registered component called `name`.
pub fn find(name: &str) -> Option<&'static Registered> {
    COMPONENTS.iter().find(|r| r.component.name() == name)
}

/// Every registered name, in start order.
pub fn names() -> impl Iterator<Item = &'static str> {
    COMPONENTS.iter().map(|r| r.component.name())
}

/// Checks that `[peers]` names only registered components.
pub fn check_peers(config: &Config) -> Result<(), String> {
    for name in config.peers.names() {
        if find(name).is_none() {
            let known: Vec<&str> = names().collect();
            return Err(format!("peers.{name}: no component of that name (components: {})", known.join(", ")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env_name;
    use std::path::Path;

    fn deploy(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").join(name)
    }

    #[test]
    fn the_split_deployment_lists_every_component_another_one_calls() {
        let split = Config::load(Some(&deploy("aviary.split.toml")), Vec::<(String, String)>::new()).unwrap();
        check_peers(&split).unwrap();
        for r in COMPONENTS {
            for used in r.component.uses() {
                assert!(!split.peers.addresses(used).is_empty(), "aviary.split.toml has no [peers] entry for {used}");
            }
        }
    }

    #[test]
    fn the_example_config_lists_the_peers_of_every_called_component() {
        let text = std::fs::read_to_string(deploy("aviary.example.toml")).unwrap();
        for name in names().filter(|n| COMPONENTS.iter().any(|r| r.component.uses().contains(n))) {
            assert!(text.contains(&env_name(&["peers", name])), "aviary.example.toml does not list peers.{name}");
        }
    }

    #[test]
    fn peers_of_unknown_components_are_named() {
        let mut c = Config::default();
        c.peers.set("nonesuch", vec!["127.0.0.1:1".into()]);
        let e = check_peers(&c).unwrap_err();
        assert!(e.contains("peers.nonesuch") && e.contains("timelines"), "{e}");
    }

    #[test]
    fn each_component_comes_after_the_ones_it_calls_and_names_are_unique() {
        let mut seen = Vec::new();
        for r in COMPONENTS {
            let c = r.component;
            for used in c.uses() {
                assert!(seen.contains(used), "{} calls {used}, which the registry lists later or not at all", c.name());
            }
            assert!(!seen.contains(&c.name()), "{} is registered twice", c.name());
            seen.push(c.name());
        }
    }
}
