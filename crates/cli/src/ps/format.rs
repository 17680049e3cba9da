//! PowerShell's default formatting: Format-List's `Name : Value` blocks, Format-Table's
//! columns under a dashed header, and Out-Default's choice between them.

use super::value::Value;
use crate::output::wildcard_match;

/// The properties of an object that `patterns` (with `*` wildcards) name, in pattern
/// order; none given means all. A name that matches nothing is left out, as in
/// PowerShell.
fn pick<'a>(props: &'a [(String, Value)], patterns: &[String]) -> Vec<&'a (String, Value)> {
    if patterns.is_empty() || patterns.iter().all(|p| p == "*") {
        return props.iter().collect();
    }
    let mut out: Vec<&(String, Value)> = Vec::new();
    for p in patterns {
        for prop in props {
            if wildcard_match(p, &prop.0) && !out.iter().any(|o| o.0 == prop.0) {
                out.push(prop);
            }
        }
    }
    out
}

/// Format-List.
pub fn list(items: &[Value], patterns: &[String]) -> String {
    let mut out = String::new();
    for item in items {
        match item {
            Value::Object(o) => {
                let props = pick(&o.props, patterns);
                let width = props
                    .iter()
                    .map(|(n, _)| n.chars().count())
                    .max()
                    .unwrap_or(0);
                out.push('\n');
                for (n, v) in props {
                    let text = v.display();
                    let mut lines = text.lines();
                    out.push_str(&format!("{n:<width$} : {}\n", lines.next().unwrap_or("")));
                    for more in lines {
                        out.push_str(&format!("{:width$}   {more}\n", ""));
                    }
                }
            }
            Value::Formatted(s) => out.push_str(s),
            other => {
                out.push_str(&other.display());
                out.push('\n');
            }
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Format-Table: the columns `patterns` name (or the object's default view, or all
/// properties), each as wide as its widest cell.
pub fn table(items: &[Value], patterns: &[String]) -> String {
    let objects: Vec<_> = items
        .iter()
        .filter_map(|v| match v {
            Value::Object(o) => Some(o.clone()),
            _ => None,
        })
        .collect();
    let Some(first) = objects.first() else {
        return list(items, patterns);
    };
    let columns: Vec<String> = if patterns.is_empty() {
        match first.default_view {
            Some(view) => view.iter().map(|s| s.to_string()).collect(),
            None => first.props.iter().map(|(n, _)| n.clone()).collect(),
        }
    } else {
        pick(&first.props, patterns)
            .into_iter()
            .map(|(n, _)| n.clone())
            .collect()
    };
    let rows: Vec<Vec<String>> = objects
        .iter()
        .map(|o| {
            columns
                .iter()
                .map(|c| {
                    o.get(c)
                        .map(|v| v.display().replace('\n', " "))
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                s.push_str(&cell);
            } else {
                s.push_str(&format!("{cell:<w$} ", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = String::from("\n");
    out.push_str(&line(columns.clone()));
    out.push_str(&line(
        columns
            .iter()
            .map(|c| "-".repeat(c.chars().count()))
            .collect(),
    ));
    for r in rows {
        out.push_str(&line(r));
    }
    out.push('\n');
    out
}

/// Out-Default: objects with a default view print as that table; other objects as a
/// table when they have at most 4 properties, as a list otherwise; everything else as
/// its text, one per line.
pub fn default(items: &[Value]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < items.len() {
        match &items[i] {
            Value::Object(o) => {
                // A run of objects of the same type shares one table or list.
                let mut j = i + 1;
                while j < items.len()
                    && matches!(&items[j], Value::Object(p) if p.type_name == o.type_name)
                {
                    j += 1;
                }
                let run = &items[i..j];
                if o.default_view.is_some() || o.props.len() <= 4 {
                    out.push_str(&table(run, &[]));
                } else {
                    out.push_str(&list(run, &[]));
                }
                i = j;
            }
            Value::Formatted(s) => {
                out.push_str(s);
                i += 1;
            }
            Value::Array(inner) => {
                out.push_str(&default(inner));
                i += 1;
            }
            Value::Null => i += 1,
            other => {
                out.push_str(&other.display());
                out.push('\n');
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::ps::value::PsObject;

    fn endpoint(name: &str, view: bool) -> Value {
        Value::Object(Rc::new(PsObject {
            type_name: "MigrationEndpoint".into(),
            props: vec![
                ("Identity".into(), Value::Str(name.into())),
                ("EndpointType".into(), Value::Str("IMAP".into())),
                ("MaxConcurrentMigrations".into(), Value::Int(100)),
                ("MaxConcurrentIncrementalSyncs".into(), Value::Int(20)),
                ("CaFile".into(), Value::Null),
                (
                    "Tags".into(),
                    Value::Array(vec![Value::Str("a".into()), Value::Str("b".into())]),
                ),
            ],
            default_view: view.then_some(&["Identity", "EndpointType"][..]),
        }))
    }

    #[test]
    fn format_list_selects_with_wildcards_and_skips_unknown_names() {
        let s = list(
            &[endpoint("CutoverEndpoint", false)],
            &[
                "EndpointType".into(),
                "ExchangeServer".into(),
                "Max*".into(),
            ],
        );
        assert_eq!(
            s,
            "\nEndpointType                  : IMAP\n\
             MaxConcurrentMigrations       : 100\n\
             MaxConcurrentIncrementalSyncs : 20\n\n"
        );
        assert!(
            list(&[endpoint("x", false)], &[]).contains("Tags                          : {a, b}\n")
        );
    }

    #[test]
    fn format_table_underlines_headers_and_pads_columns() {
        let s = table(
            &[endpoint("CutoverEndpoint", false), endpoint("E2", false)],
            &["Identity".into(), "Max*".into()],
        );
        assert_eq!(
            s,
            "\nIdentity        MaxConcurrentMigrations MaxConcurrentIncrementalSyncs\n\
             --------        ----------------------- -----------------------------\n\
             CutoverEndpoint 100                     20\n\
             E2              100                     20\n\n"
        );
    }

    #[test]
    fn out_default_uses_the_default_view_or_a_list() {
        let s = default(&[endpoint("CutoverEndpoint", true)]);
        assert_eq!(
            s,
            "\nIdentity        EndpointType\n--------        ------------\nCutoverEndpoint IMAP\n\n"
        );
        let s = default(&[endpoint("E", false), Value::Int(3), Value::Bool(true)]);
        assert!(s.starts_with("\nIdentity "), "{s}");
        assert!(s.ends_with("\n3\nTrue\n"), "{s}");
    }
}
