//! `format=csv`: the rows of an answer (a chart's points, a ranking's
//! results, the pages of the speed answer) as CSV, for spreadsheets.
//!
//! The header row holds the JSON field names in alphabetical order, nested
//! objects flattened with a dot (`response.p95_ms`); each row holds the same
//! numbers as the JSON.
//! Text that a spreadsheet would run as a formula (starting with `=`, `+`,
//! `-` or `@`) is prefixed with a quote; numbers are written as they are.

use serde_json::{Map, Value};

/// The rows under `field` of the JSON answer `body`, as CSV text.
pub fn rows_to_csv(body: &str, field: &str) -> Result<String, serde_json::Error> {
    let answer: Value = serde_json::from_str(body)?;
    let rows: Vec<Vec<(String, &Value)>> = answer
        .get(field)
        .and_then(Value::as_array)
        .map(|rows| rows.iter().map(|row| flatten(row)).collect())
        .unwrap_or_default();
    // Every column any row has, in the order they first appear.
    let mut columns: Vec<&str> = Vec::new();
    for row in &rows {
        for (name, _) in row {
            if !columns.contains(&name.as_str()) {
                columns.push(name);
            }
        }
    }
    let mut out = String::new();
    push_line(&mut out, columns.iter().map(|c| quote(c)));
    for row in &rows {
        let cell = |column: &&str| row.iter().find(|(name, _)| name == column).map_or(String::new(), |(_, v)| cell(v));
        push_line(&mut out, columns.iter().map(cell));
    }
    Ok(out)
}

/// `(dotted name, value)` of every scalar in `row`.
fn flatten(row: &Value) -> Vec<(String, &Value)> {
    fn walk<'a>(prefix: &str, map: &'a Map<String, Value>, out: &mut Vec<(String, &'a Value)>) {
        for (name, value) in map {
            let name = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            match value {
                Value::Object(inner) => walk(&name, inner, out),
                _ => out.push((name, value)),
            }
        }
    }
    let mut out = Vec::new();
    if let Value::Object(map) = row {
        walk("", map, &mut out);
    }
    out
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => quote(&neutralise(text)),
        Value::Array(_) | Value::Object(_) => quote(&value.to_string()),
        number_or_bool => number_or_bool.to_string(),
    }
}

/// A leading `=`, `+`, `-` or `@` makes spreadsheets evaluate text: a quote
/// before it keeps it text (OWASP's advice for CSV injection).
fn neutralise(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// RFC 4180: a field with a comma, quote or line break goes in quotes, its
/// quotes doubled.
fn quote(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

fn push_line(out: &mut String, cells: impl Iterator<Item = String>) {
    out.push_str(&cells.collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_lines_with_quotes_commas_persian_text_and_formulas_neutralised() {
        let body = serde_json::json!({
            "from": "2026-12-01",
            "results": [
                { "value": "/a,b", "pageviews": 3, "share": -2.5, "response": { "p95_ms": 120, "count": null } },
                { "value": "He said \"hi\"", "pageviews": 2 },
                { "value": "=HYPERLINK(\"x\")", "pageviews": 1 },
                { "value": "صفحه اصلی", "pageviews": 0, "extra": true },
            ]
        })
        .to_string();
        let csv = rows_to_csv(&body, "results").expect("csv");
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines,
            vec![
                "pageviews,response.count,response.p95_ms,share,value,extra",
                "3,,120,-2.5,\"/a,b\",",
                "2,,,,\"He said \"\"hi\"\"\",",
                "1,,,,\"'=HYPERLINK(\"\"x\"\")\",",
                "0,,,,صفحه اصلی,true",
                "",
            ]
        );
        assert_eq!(rows_to_csv(r#"{"results": []}"#, "results").expect("csv"), "\r\n");
    }
}
