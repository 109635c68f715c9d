//! Segments: `filter=<dimension><op><value>`, repeatable, all of which must
//! hold. `op` is `==` (is), `!=` (is not) or `~=` (contains, ignoring
//! case); a dimension is any the breakdown ranks by (but the visit-level
//! `entry_page` and `exit_page`) or `prop:<key>`, a custom property. A
//! filtered answer comes from the kept events (table `events`), whose
//! columns are named as the dimensions.

use analytics_events::Dimension;
use tokio_postgres::types::ToSql;

use crate::error::QueryError;

/// At most this many filters on one request.
pub const MAX_FILTERS: usize = 10;
/// The longest value a filter may compare with (a page is at most 1,024 bytes).
const MAX_VALUE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Is,
    IsNot,
    Contains,
}

impl Op {
    const ALL: [(Op, &'static str); 3] = [(Op::Is, "=="), (Op::IsNot, "!="), (Op::Contains, "~=")];

    fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(op, _)| *op == self).map_or("", |(_, text)| text)
    }
}

/// What a filter looks at: an events column, or a custom property.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    Column(&'static str),
    Property(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Filter {
    pub subject: Subject,
    pub op: Op,
    pub value: String,
    /// `<column>:<value>` of an `==` filter on a column with a value: what
    /// the events' token index ([`TOKENS`]) finds them by.
    token: Option<String>,
}

/// The expression of the events' GIN index of `<dimension>:<value>` tokens
/// (migration V14), written exactly as there, so that the planner matches
/// a condition on it to the index.
pub const TOKENS: &str = "event_tokens(source, page, country, device, browser, browser_version, os, \
     referrer, referrer_source, utm_source, utm_medium, utm_campaign, event, app_version)";

/// The filters of a request, checked, in a canonical order (so that their
/// spellings share a cache entry).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters(Vec<Filter>);

impl Filters {
    /// Parses every `filter` parameter; each error names the filter.
    pub fn parse(texts: &[String]) -> Result<Self, QueryError> {
        if texts.len() > MAX_FILTERS {
            return Err(bad(format!("at most {MAX_FILTERS} filters, got {}", texts.len())));
        }
        let mut filters: Vec<Filter> = texts.iter().map(|t| parse_one(t)).collect::<Result<_, _>>()?;
        filters.sort();
        filters.dedup();
        Ok(Self(filters))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `~=` filters on dimensions, as (column, the text it must
    /// contain): those whose values the dimension rollups list (`source`
    /// has no rows of its own: it is their count columns).
    pub fn contains_on_dimensions(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().filter_map(|filter| match (&filter.subject, filter.op) {
            (Subject::Column(column), Op::Contains) if *column != "source" => Some((*column, filter.value.as_str())),
            _ => None,
        })
    }

    /// `AND`ed SQL conditions over `events`, their parameters numbered from
    /// `$first`; empty when there is no filter.
    pub fn sql(&self, first: usize) -> (String, Vec<&(dyn ToSql + Sync)>) {
        let mut sql = String::new();
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        for filter in &self.0 {
            let subject = match &filter.subject {
                Subject::Column(column) => (*column).to_owned(),
                Subject::Property(key) => {
                    params.push(key);
                    format!("(props->>${})", first + params.len() - 1)
                }
            };
            let value_at = first + params.len();
            params.push(&filter.value);
            let condition = match filter.op {
                Op::Is => format!("{subject} = ${value_at}"),
                // An event without the property is not one with that value.
                Op::IsNot => format!("{subject} IS DISTINCT FROM ${value_at}"),
                Op::Contains => format!("strpos(lower({subject}), lower(${value_at})) > 0"),
            };
            sql.push_str(" AND ");
            sql.push_str(&condition);
            if matches!((&filter.subject, filter.op), (Subject::Property(_), Op::Is | Op::Contains)) {
                // Only the few events with properties (their partial index).
                sql.push_str(" AND props IS NOT NULL");
            }
        }
        // The index's narrowing (the conditions above stay the exact ones):
        // every token in one array, so that one index scan intersects them
        // rather than a bitmap per token (8% faster for two filters that
        // each match a quarter of 3 million events).
        let mut tokens = Vec::new();
        for token in self.0.iter().filter_map(|f| f.token.as_ref()) {
            params.push(token);
            tokens.push(format!("${}::text", first + params.len() - 1));
        }
        if !tokens.is_empty() {
            sql.push_str(&format!(" AND {TOKENS} @> ARRAY[{}]", tokens.join(", ")));
        }
        (sql, params)
    }
}

/// As a cache key part: the filters in their canonical order.
impl std::fmt::Display for Filters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for filter in &self.0 {
            let subject = match &filter.subject {
                Subject::Column(column) => (*column).to_owned(),
                Subject::Property(key) => format!("prop:{key}"),
            };
            // Lengths first: no value can make two lists print alike.
            write!(f, "{}:{subject}{}{}:{};", subject.len(), filter.op.as_str(), filter.value.len(), filter.value)?;
        }
        Ok(())
    }
}

/// The dimensions a filter may name, as `events` columns.
fn column(name: &str) -> Option<&'static str> {
    if name == "source" {
        return Some("source");
    }
    Dimension::ALL.iter().map(|d| d.as_str()).find(|d| *d == name)
}

fn parse_one(text: &str) -> Result<Filter, QueryError> {
    let found = Op::ALL.iter().filter_map(|(op, token)| text.find(token).map(|at| (at, *op, token.len()))).min();
    let Some((at, op, len)) = found else {
        return Err(bad(format!("{text:?}: expected <dimension>==<value> (or != or ~=)")));
    };
    let (name, value) = (&text[..at], &text[at + len..]);
    let subject = match name.strip_prefix("prop:") {
        Some(key) if !key.is_empty() && key.len() <= analytics_events::clean::limits::PROP_KEY => {
            Subject::Property(key.to_owned())
        }
        Some(_) => return Err(bad(format!("{text:?}: a property is prop:<key>"))),
        None => match column(name) {
            Some(column) => Subject::Column(column),
            None => {
                let names: Vec<&str> =
                    std::iter::once("source").chain(Dimension::ALL.iter().map(|d| d.as_str())).collect();
                return Err(bad(format!(
                    "{text:?}: unknown dimension {name:?} (expected one of {}, or prop:<key>)",
                    names.join(", ")
                )));
            }
        },
    };
    if value.len() > MAX_VALUE {
        return Err(bad(format!("{name}: a value is at most {MAX_VALUE} bytes")));
    }
    if op == Op::Contains && value.is_empty() {
        return Err(bad(format!("{text:?}: contains what?")));
    }
    let token = match (&subject, op) {
        (Subject::Column(column), Op::Is) if !value.is_empty() => Some(format!("{column}:{value}")),
        _ => None,
    };
    Ok(Filter { subject, op, value: value.to_owned(), token })
}

fn bad(reason: String) -> QueryError {
    QueryError::BadParameter { name: "filter", reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(texts: &[&str]) -> Result<Filters, QueryError> {
        Filters::parse(&texts.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn filters_are_parsed_and_named_when_wrong() {
        let filters = parse(&["page==/a==b", "country!=IR", "prop:plan~=Pro", "source==app"]).expect("valid");
        let subjects: Vec<(Subject, Op, &str, Option<&str>)> =
            filters.0.iter().map(|f| (f.subject.clone(), f.op, f.value.as_str(), f.token.as_deref())).collect();
        assert_eq!(
            subjects,
            vec![
                (Subject::Column("country"), Op::IsNot, "IR", None),
                (Subject::Column("page"), Op::Is, "/a==b", Some("page:/a==b")),
                (Subject::Column("source"), Op::Is, "app", Some("source:app")),
                (Subject::Property("plan".into()), Op::Contains, "Pro", None),
            ]
        );
        let (sql, params) = filters.sql(5);
        assert_eq!(
            sql,
            format!(
                " AND country IS DISTINCT FROM $5 AND page = $6 AND source = $7 \
                 AND strpos(lower((props->>$8)), lower($9)) > 0 AND props IS NOT NULL \
                 AND {TOKENS} @> ARRAY[$10::text, $11::text]"
            )
        );
        assert_eq!(params.len(), 7);
        // Only `~=` on a dimension with rollup rows can be narrowed by them.
        let contains = parse(&["page~=blog", "source~=web", "prop:plan~=pro", "country==IR"]).expect("valid");
        assert_eq!(contains.contains_on_dimensions().collect::<Vec<_>>(), [("page", "blog")]);
        // An empty value has no token: such events are not in the index.
        assert_eq!(parse(&["referrer=="]).expect("valid").0[0].token, None);
        for bad in ["page", "nope==1", "prop:==x", "page~=", "entry_page==/"] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
        assert!(parse(&["page==/"; 11]).is_err());
        // One canonical spelling per set of filters.
        assert_eq!(parse(&["page==/a", "country==IR"]).expect("ok"), parse(&["country==IR", "page==/a"]).expect("ok"));
    }
}
