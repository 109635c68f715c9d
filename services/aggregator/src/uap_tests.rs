//! uap.rs against uap-core's own test cases, and against the user-agent-parser
//! crate (the matcher it replaced) on the production patterns.

use std::path::PathBuf;

use yaml_rust2::{Yaml, YamlLoader};

use super::*;

/// Fetched by `make test` (deploy/local/fetch-data.sh --test-cases).
fn data(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/data").join(file)
}

fn cases(file: &str) -> Vec<Yaml> {
    let path = data(&format!("uap-core-tests/{file}"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run deploy/local/fetch-data.sh --test-cases)", path.display()));
    let documents = YamlLoader::load_from_str(&text).expect("test cases are YAML");
    documents[0]["test_cases"].as_vec().expect("a test_cases list").clone()
}

/// A case's expected field: absent and null are `None`; YAML may read a
/// version as a number.
fn expected(case: &Yaml, field: &str) -> Option<String> {
    match &case[field] {
        Yaml::String(text) => Some(text.clone()),
        Yaml::Integer(number) => Some(number.to_string()),
        Yaml::Real(text) => Some(text.clone()),
        _ => None,
    }
}

fn user_agent(case: &Yaml) -> &str {
    case["user_agent_string"].as_str().expect("a user_agent_string")
}

/// Runs every case of `files`, returning the mismatches (at most 20 shown).
fn conform(files: &[&str], check: impl Fn(&Yaml) -> Option<String>) -> (usize, Vec<String>) {
    let mut total = 0;
    let mut failures = Vec::new();
    for file in files {
        for case in cases(file) {
            total += 1;
            if let Some(failure) = check(&case) {
                failures.push(format!("{file}: {failure}"));
            }
        }
    }
    (total, failures)
}

fn assert_conforms(what: &str, (total, failures): (usize, Vec<String>)) {
    assert!(total > 100, "{what}: only {total} cases read");
    assert!(
        failures.is_empty(),
        "{what}: {} of {total} cases differ, e.g.\n{}",
        failures.len(),
        failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn core_patterns() -> Patterns {
    Patterns::load(&data("uap-core-tests/regexes.yaml")).expect("uap-core's regexes.yaml loads")
}

#[test]
fn browsers_as_uap_core_expects() {
    let patterns = core_patterns();
    let files = [
        "test_ua.yaml",
        "firefox_user_agent_strings.yaml",
        "opera_mini_user_agent_strings.yaml",
        "podcasting_user_agent_strings.yaml",
        "pgts_browser_list.yaml",
    ];
    assert_conforms(
        "browsers",
        conform(&files, |case| {
            let got = patterns.browser(user_agent(case));
            let want = Browser {
                family: expected(case, "family").unwrap_or_default(),
                major: expected(case, "major"),
                minor: expected(case, "minor"),
                patch: expected(case, "patch"),
            };
            (got != want).then(|| format!("{:?}: got {got:?}, want {want:?}", user_agent(case)))
        }),
    );
}

#[test]
fn systems_as_uap_core_expects() {
    let patterns = core_patterns();
    assert_conforms(
        "systems",
        conform(&["test_os.yaml", "additional_os_tests.yaml"], |case| {
            let got = patterns.system(user_agent(case));
            let want = System {
                family: expected(case, "family").unwrap_or_default(),
                major: expected(case, "major"),
                minor: expected(case, "minor"),
                patch: expected(case, "patch"),
                patch_minor: expected(case, "patch_minor"),
            };
            (got != want).then(|| format!("{:?}: got {got:?}, want {want:?}", user_agent(case)))
        }),
    );
}

#[test]
fn devices_as_uap_core_expects() {
    let patterns = core_patterns();
    assert_conforms(
        "devices",
        conform(&["test_device.yaml"], |case| {
            let got = patterns.device(user_agent(case));
            let want = Device {
                family: expected(case, "family").unwrap_or_default(),
                brand: expected(case, "brand"),
                model: expected(case, "model"),
            };
            (got != want).then(|| format!("{:?}: got {got:?}, want {want:?}", user_agent(case)))
        }),
    );
}

/// On the patterns production loads, every field the aggregator stores is
/// what the previous matcher (the user-agent-parser crate, Unicode regexes,
/// all compiled) said, for every user agent of uap-core's browser and OS tests
/// and every eighth of its device tests.
#[test]
fn same_answers_as_the_matcher_it_replaced() {
    let path = data("regexes.yaml");
    let ours = Patterns::load(&path).expect("regexes.yaml loads");
    let theirs = user_agent_parser::UserAgentParser::from_path(&path).expect("regexes.yaml loads");
    let devices = cases("test_device.yaml");
    let user_agents: Vec<String> = ["test_ua.yaml", "test_os.yaml", "firefox_user_agent_strings.yaml"]
        .iter()
        .flat_map(|file| cases(file))
        .chain(devices.into_iter().step_by(8))
        .map(|case| user_agent(&case).to_owned())
        .collect();
    let mut differ = Vec::new();
    for ua in &user_agents {
        let product = theirs.parse_product(ua);
        let before = (
            theirs.parse_device(ua).name.map(|s| s.into_owned()),
            theirs.parse_os(ua).name.map(|s| s.into_owned()),
            product.name.map(|s| s.into_owned()),
            product.major.map(|s| s.into_owned()),
        );
        let browser = ours.browser(ua);
        let now = (Some(ours.device(ua).family), Some(ours.system(ua).family), Some(browser.family), browser.major);
        if before != now {
            differ.push(format!("{ua:?}: before {before:?}, now {now:?}"));
        }
    }
    assert!(user_agents.len() > 3000, "only {} user agents", user_agents.len());
    assert!(
        differ.is_empty(),
        "{} of {} differ, e.g.\n{}",
        differ.len(),
        user_agents.len(),
        differ[..differ.len().min(20)].join("\n")
    );
}

/// The point of the prefilter and lazy compilation: a common browser's user
/// agent compiles a few dozen of the ~1,200 patterns, not all of them.
#[test]
fn common_user_agents_compile_few_patterns() {
    let patterns = Patterns::load(&data("regexes.yaml")).expect("regexes.yaml loads");
    assert_eq!(patterns.compiled(), 0, "nothing is compiled at load");
    for ua in [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:127.0) Gecko/20100101 Firefox/127.0",
    ] {
        assert_ne!(patterns.browser(ua).family, "Other", "{ua}");
    }
    let compiled = patterns.compiled();
    assert!(compiled < 150, "{compiled} patterns compiled for four user agents");
}
