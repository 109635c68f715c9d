//! uap-core's `regexes.yaml`, matched as its specification says (first
//! matching pattern wins; `$1`..`$9` in replacements; trimmed; `Other` when
//! nothing matches), in a few megabytes instead of a few hundred.
//!
//! Why not compile every pattern up front: the file has about 1,200 patterns,
//! and compiled with Unicode classes they took 138 MB before the first user
//! agent and 205 MB after one pass (`.{1,200}` alone is 200 copies of a UTF-8
//! automaton). Three things keep that small:
//! - **ASCII classes.** `.`, `\d`, `\w` and `[^;]` compile to byte classes,
//!   a tenth of the size. For an ASCII user agent (virtually all of them: HTTP
//!   headers are ASCII) every match is the same as with Unicode classes; in a
//!   non-ASCII one a repetition bound counts bytes, not characters.
//! - **A literal prefilter.** Most patterns require a literal (`Firefox/`,
//!   `; SM-`): one Aho-Corasick pass over the user agent says which patterns
//!   can match at all, and only those are tried, in file order.
//! - **Lazy compilation.** A pattern is compiled the first time the prefilter
//!   lets a user agent reach it, so a process only holds the patterns its
//!   traffic needs; even if every one is reached, the total stays bounded.

use std::path::Path;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use anyhow::{Context, bail};
use regex::bytes::{Captures, Regex, RegexBuilder};
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use yaml_rust2::{Yaml, YamlLoader};

/// The browser: family and up to three version parts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Browser {
    pub family: String,
    pub major: Option<String>,
    pub minor: Option<String>,
    pub patch: Option<String>,
}

/// The operating system: family and up to four version parts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct System {
    pub family: String,
    pub major: Option<String>,
    pub minor: Option<String>,
    pub patch: Option<String>,
    pub patch_minor: Option<String>,
}

/// The device: family, and brand and model where a pattern says them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Device {
    pub family: String,
    pub brand: Option<String>,
    pub model: Option<String>,
}

pub struct Patterns {
    browsers: RuleList,
    systems: RuleList,
    devices: RuleList,
}

impl Patterns {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let documents = YamlLoader::load_from_str(text).context("not YAML")?;
        let root = documents.first().context("an empty file")?;
        let list = |key: &str, fields: &[&str]| -> anyhow::Result<RuleList> {
            let entries = root[key].as_vec().with_context(|| format!("no `{key}` list"))?;
            let rules = entries
                .iter()
                .enumerate()
                .map(|(i, entry)| Rule::from_yaml(entry, fields).with_context(|| format!("`{key}` entry {}", i + 1)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            RuleList::new(rules)
        };
        Ok(Self {
            browsers: list(
                "user_agent_parsers",
                &["family_replacement", "v1_replacement", "v2_replacement", "v3_replacement"],
            )?,
            systems: list(
                "os_parsers",
                &["os_replacement", "os_v1_replacement", "os_v2_replacement", "os_v3_replacement", "os_v4_replacement"],
            )?,
            devices: list("device_parsers", &["device_replacement", "brand_replacement", "model_replacement"])?,
        })
    }

    pub fn browser(&self, user_agent: &str) -> Browser {
        let Some((rule, caps)) = self.browsers.first_match(user_agent) else {
            return Browser { family: OTHER.into(), ..Browser::default() };
        };
        Browser {
            family: rule.field(0, &caps, Some(1)).unwrap_or_else(|| OTHER.into()),
            major: rule.field(1, &caps, Some(2)),
            minor: rule.field(2, &caps, Some(3)),
            patch: rule.field(3, &caps, Some(4)),
        }
    }

    pub fn system(&self, user_agent: &str) -> System {
        let Some((rule, caps)) = self.systems.first_match(user_agent) else {
            return System { family: OTHER.into(), ..System::default() };
        };
        System {
            family: rule.field(0, &caps, Some(1)).unwrap_or_else(|| OTHER.into()),
            major: rule.field(1, &caps, Some(2)),
            minor: rule.field(2, &caps, Some(3)),
            patch: rule.field(3, &caps, Some(4)),
            patch_minor: rule.field(4, &caps, Some(5)),
        }
    }

    pub fn device(&self, user_agent: &str) -> Device {
        let Some((rule, caps)) = self.devices.first_match(user_agent) else {
            return Device { family: OTHER.into(), ..Device::default() };
        };
        Device {
            family: rule.field(0, &caps, Some(1)).unwrap_or_else(|| OTHER.into()),
            // The brand has no default group: only a replacement names it.
            brand: rule.field(1, &caps, None),
            model: rule.field(2, &caps, Some(1)),
        }
    }

    /// How many patterns have been compiled so far (for the memory tests).
    pub fn compiled(&self) -> usize {
        [&self.browsers, &self.systems, &self.devices]
            .iter()
            .map(|list| list.rules.iter().filter(|rule| rule.regex.get().is_some()).count())
            .sum()
    }
}

const OTHER: &str = "Other";

/// One list of the file, in order, with the prefilter over its literals.
struct RuleList {
    rules: Vec<Rule>,
    /// Patterns of the Aho-Corasick automaton, each the literal of one rule.
    prefilter: AhoCorasick,
    literal_rule: Vec<usize>,
    /// Rules with no literal every match must contain: always tried.
    unfiltered: Vec<bool>,
}

impl RuleList {
    /// `parsed`: each rule with the literals of which every match contains
    /// at least one (lower case), or `None` when it has no such set.
    fn new(parsed: Vec<(Rule, Option<Vec<Vec<u8>>>)>) -> anyhow::Result<Self> {
        let mut rules = Vec::with_capacity(parsed.len());
        let mut literals = Vec::new();
        let mut literal_rule = Vec::new();
        let mut unfiltered = vec![false; parsed.len()];
        for (index, (rule, required)) in parsed.into_iter().enumerate() {
            match required {
                Some(set) => {
                    literal_rule.extend(std::iter::repeat_n(index, set.len()));
                    literals.extend(set);
                }
                None => unfiltered[index] = true,
            }
            rules.push(rule);
        }
        // Case-blind on purpose: it can only let more rules through, never
        // fewer, and it serves the `(?i)` patterns without case variants.
        let prefilter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&literals)
            .context("building the literal prefilter")?;
        Ok(Self { rules, prefilter, literal_rule, unfiltered })
    }

    fn first_match<'u>(&self, user_agent: &'u str) -> Option<(&Rule, Captures<'u>)> {
        let mut candidate = self.unfiltered.clone();
        for found in self.prefilter.find_overlapping_iter(user_agent) {
            candidate[self.literal_rule[found.pattern().as_usize()]] = true;
        }
        self.rules
            .iter()
            .zip(candidate)
            .filter(|(_, candidate)| *candidate)
            .find_map(|(rule, _)| rule.regex().captures(user_agent.as_bytes()).map(|caps| (rule, caps)))
    }
}

struct Rule {
    source: String,
    case_insensitive: bool,
    /// The replacements of the list's fields, in the order the list names them.
    replacements: Vec<Option<String>>,
    regex: OnceLock<Regex>,
}

impl Rule {
    /// The rule, and the literals its prefilter needs (see [`RuleList::new`]).
    fn from_yaml(entry: &Yaml, fields: &[&str]) -> anyhow::Result<(Self, Option<Vec<Vec<u8>>>)> {
        let source = entry["regex"].as_str().context("no `regex`")?.to_owned();
        let case_insensitive = entry["regex_flag"].as_str() == Some("i");
        let replacements = fields
            .iter()
            .map(|field| match &entry[*field] {
                Yaml::BadValue | Yaml::Null => Ok(None),
                Yaml::String(text) => Ok(Some(text.clone())),
                // YAML reads `v1_replacement: 7` as a number.
                Yaml::Integer(number) => Ok(Some(number.to_string())),
                Yaml::Real(text) => Ok(Some(text.clone())),
                other => bail!("`{field}` is {other:?}, not text"),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .case_insensitive(case_insensitive)
            .build()
            .parse(&source)
            .with_context(|| format!("pattern {source:?}"))?;
        let required = [ExtractKind::Prefix, ExtractKind::Suffix]
            .into_iter()
            .filter_map(|kind| literal_set(Extractor::new().kind(kind).extract(&hir)))
            .max_by_key(|set| set.iter().map(Vec::len).min().unwrap_or(0));
        Ok((Self { source, case_insensitive, replacements, regex: OnceLock::new() }, required))
    }

    fn regex(&self) -> &Regex {
        self.regex.get_or_init(|| {
            RegexBuilder::new(&self.source)
                .unicode(false)
                .case_insensitive(self.case_insensitive)
                .build()
                // The same parser accepted this pattern at load.
                .expect("a pattern that parsed compiles")
        })
    }

    /// Field `index` of the match: its replacement with `$1`..`$9` filled in,
    /// else the default group; trimmed, and `None` when empty.
    fn field(&self, index: usize, caps: &Captures, group: Option<usize>) -> Option<String> {
        let value = match (&self.replacements[index], group) {
            (Some(replacement), _) => substitute(replacement, caps),
            (None, Some(group)) => caps.get(group).map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())?,
            (None, None) => return None,
        };
        let trimmed = value.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    }
}

/// A set of literals usable by the prefilter: finite, none empty (an empty
/// literal is in every string), lower-cased for the case-blind automaton.
fn literal_set(seq: Seq) -> Option<Vec<Vec<u8>>> {
    let literals = seq.literals()?;
    if literals.is_empty() || literals.iter().any(|literal| literal.as_bytes().is_empty()) {
        return None;
    }
    let mut set: Vec<Vec<u8>> = literals.iter().map(|literal| literal.as_bytes().to_ascii_lowercase()).collect();
    set.sort();
    set.dedup();
    Some(set)
}

/// `$1`..`$9` replaced by the groups (a group that did not take part, or does
/// not exist, is empty).
fn substitute(replacement: &str, caps: &Captures) -> String {
    let mut out = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().and_then(|d| d.to_digit(10))) {
            ('$', Some(group)) if group > 0 => {
                chars.next();
                if let Some(m) = caps.get(group as usize) {
                    out.push_str(&String::from_utf8_lossy(m.as_bytes()));
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "uap_tests.rs"]
mod tests;
