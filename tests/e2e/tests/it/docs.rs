//! The README's configuration table is the settings the services read: every
//! key of every service's built-in defaults is documented, and nothing is
//! documented that no service reads.

use std::collections::BTreeSet;

/// `ANALYTICS__SECTION__KEY` for every key of a service's defaults.
fn variables(defaults: &str) -> BTreeSet<String> {
    let tree: serde_json::Value = analytics_config::from_defaults(defaults).expect("the built-in defaults parse");
    let mut names = BTreeSet::new();
    for (section, keys) in tree.as_object().expect("sections") {
        for key in keys.as_object().expect("keys").keys() {
            names.insert(format!("ANALYTICS__{}__{}", section.to_uppercase(), key.to_uppercase()));
        }
    }
    names
}

#[test]
fn the_readme_documents_every_setting_and_no_other() {
    // analytics-ctl is a binary only: its defaults are read from its source.
    let ctl = std::fs::read_to_string(analytics_e2e::repo_root().join("services/ctl/src/defaults.toml"))
        .expect("the ctl's defaults");
    let read: BTreeSet<String> = [
        analytics_ingest::Settings::DEFAULTS,
        analytics_forwarder::Settings::DEFAULTS,
        analytics_aggregator::Settings::DEFAULTS,
        analytics_query::Settings::DEFAULTS,
        &ctl,
    ]
    .into_iter()
    .flat_map(variables)
    .collect();
    let readme = std::fs::read_to_string(analytics_e2e::repo_root().join("README.md")).expect("README.md");
    let documented: BTreeSet<String> = readme
        .lines()
        .filter(|line| line.starts_with("| `ANALYTICS__"))
        .flat_map(|line| line.split('|').nth(1).unwrap_or_default().split(", ").map(str::to_owned).collect::<Vec<_>>())
        .map(|name| name.trim().trim_matches('`').to_owned())
        .collect();
    let undocumented: Vec<&String> = read.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&read).collect();
    assert!(undocumented.is_empty(), "settings missing from the README's table: {undocumented:?}");
    assert!(unknown.is_empty(), "the README documents settings no service reads: {unknown:?}");
}
