//! Output of objects the way PowerShell shows them: `list` (Format-List's
//! `Name : Value` blocks), `table` (Format-Table), or `json`; `--select` picks
//! properties by name with `*` wildcards, like `Format-List Status,Max*`.
//!
//! Much of what is shown comes from servers (IMAP greetings and NO/BAD texts, folder
//! names, subjects and reasons of skipped items, DNS and HTTP answers), and a server
//! could put terminal escape sequences in it. [`terminal_safe`] is the one filter for
//! text meant for a terminal: list and table values, errors and notes on stderr, the
//! progress bars, and the cmdlet shell's output. JSON output is not filtered (the
//! values stay exact for programs); serde_json escapes C0 controls as `\u00XX`, and
//! [`print`] escapes DEL and the C1 controls, which serde_json leaves raw, the same
//! way, so a JSON document holds no control character either and reads back the same.
//! Logs (tracing, on stderr) do not pass through here: tracing-subscriber escapes ESC,
//! BEL, BS, FF, DEL and the C1 controls in them itself (so no escape sequence runs),
//! though not CR.

use std::borrow::Cow;
use std::io::Write;

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    List,
    Table,
    Json,
}

/// An object to show: named properties in a fixed order.
#[derive(Debug, Clone, Default)]
pub struct Record(Vec<(Cow<'static, str>, Value)>);

impl Record {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.0.push((Cow::Borrowed(name), value.into()));
        self
    }

    /// A view of `cutover_service::views`, its properties in their declared order.
    pub fn from_view(view: &impl serde::Serialize) -> Self {
        match serde_json::to_value(view) {
            Ok(Value::Object(map)) => {
                Self(map.into_iter().map(|(n, v)| (Cow::Owned(n), v)).collect())
            }
            _ => Self::default(),
        }
    }

    /// Every property, in order.
    pub fn fields(&self) -> &[(Cow<'static, str>, Value)] {
        &self.0
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Keeps the properties `select` names, in the order of the patterns.
    fn select(&self, select: &[String]) -> Vec<(&str, &Value)> {
        if select.is_empty() {
            return self.0.iter().map(|(n, v)| (n.as_ref(), v)).collect();
        }
        let mut out: Vec<(&str, &Value)> = Vec::new();
        for pattern in select {
            for (n, v) in &self.0 {
                if wildcard_match(pattern, n) && !out.iter().any(|(o, _)| o == n) {
                    out.push((n.as_ref(), v));
                }
            }
        }
        out
    }
}

pub fn time(t: Option<DateTime<Utc>>) -> Value {
    cutover_service::views::time_text(t).map_or(Value::Null, Value::String)
}

/// Case-insensitive match with `*` (any run) and `?` (one character).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b) && go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.trim().chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Text as it may reach a terminal: every C0 control character (ESC, CR, BEL, BS, ...),
/// DEL and every C1 control (U+0080..U+009F, CSI included) becomes U+FFFD, so that no
/// escape sequence runs and the admin still sees that something was there. A tab
/// becomes a space; a line feed stays (our own messages span lines, and a new line
/// moves the cursor nowhere else).
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c != '\n' && c.is_control();
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\t' => ' ',
                c if unsafe_char(c) => '\u{fffd}',
                c => c,
            })
            .collect(),
    )
}

/// Prints a note or warning on stderr, terminal-safe.
pub fn note(text: &str) {
    eprintln!("{}", terminal_safe(text));
}

/// A JSON document with DEL and the C1 controls escaped (`\u007f`, `\u009b`): serde_json
/// writes them raw, and some terminals act on a raw C1. They can only stand inside
/// strings, where the escape means the same character.
fn json_escape_controls(json: &str) -> Cow<'_, str> {
    if !json.contains(|c: char| c.is_control()) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        // serde_json escaped C0 inside strings; a line feed is the layout's.
        if c.is_control() && c != '\n' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn plain(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(plain).collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Object(_) => v.to_string(),
        other => other.to_string(),
    }
}

/// Checks `--select` against the properties an object has, so a typo is an error
/// rather than an empty output.
pub fn check_select(select: &[String], sample: &Record) -> anyhow::Result<()> {
    for pattern in select {
        if !sample.0.iter().any(|(n, _)| wildcard_match(pattern, n)) {
            let names: Vec<&str> = sample.0.iter().map(|(n, _)| n.as_ref()).collect();
            anyhow::bail!(
                "--select '{pattern}' matches no property; the properties are: {}",
                names.join(", ")
            );
        }
    }
    Ok(())
}

/// Where a command's objects go: stdout, in the chosen format.
pub struct Printer {
    pub format: Format,
    pub select: Vec<String>,
}

impl Printer {
    pub fn print(&self, records: &[Record], single: bool) -> anyhow::Result<()> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        print(&mut out, self.format, &self.select, records, single)
    }
}

/// Prints one object (`single`) or a list of them.
pub fn print(
    out: &mut dyn Write,
    format: Format,
    select: &[String],
    records: &[Record],
    single: bool,
) -> anyhow::Result<()> {
    if let Some(first) = records.first() {
        check_select(select, first)?;
    }
    match format {
        Format::Json => {
            let objects: Vec<Value> = records
                .iter()
                .map(|r| {
                    let map: Map<String, Value> = r
                        .select(select)
                        .into_iter()
                        .map(|(n, v)| (n.to_string(), v.clone()))
                        .collect();
                    Value::Object(map)
                })
                .collect();
            let doc = if single && objects.len() == 1 {
                objects.into_iter().next().unwrap_or(Value::Null)
            } else {
                Value::Array(objects)
            };
            let text = serde_json::to_string_pretty(&doc)?;
            writeln!(out, "{}", json_escape_controls(&text))?;
        }
        Format::List => {
            for r in records {
                let props = r.select(select);
                let width = props.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
                writeln!(out)?;
                for (n, v) in props {
                    writeln!(out, "{n:<width$} : {}", terminal_safe(&plain(v)))?;
                }
            }
            if !records.is_empty() {
                writeln!(out)?;
            }
        }
        Format::Table => {
            let Some(first) = records.first() else {
                return Ok(());
            };
            let header: Vec<&str> = first.select(select).iter().map(|(n, _)| *n).collect();
            let mut table = Table::new();
            table
                .load_style(presets::ASCII_MARKDOWN)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(header);
            for r in records {
                table.add_row(
                    r.select(select)
                        .iter()
                        .map(|(_, v)| terminal_safe(&plain(v)).into_owned()),
                );
            }
            writeln!(out, "{table}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn record() -> Record {
        Record::new()
            .with("EndpointType", "IMAP")
            .with("MaxConcurrentMigrations", 100)
            .with("MaxConcurrentIncrementalSyncs", 20)
            .with("Port", 143)
            .with("LastSyncedDateTime", Value::Null)
    }

    fn render(format: Format, select: &[&str], single: bool) -> String {
        let select: Vec<String> = select.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        print(&mut out, format, &select, &[record()], single).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("Max*", "MaxConcurrentMigrations"));
        assert!(wildcard_match("max*", "MaxConcurrentMigrations"));
        assert!(wildcard_match("*Count", "TotalCount"));
        assert!(wildcard_match("P?rt", "Port"));
        assert!(!wildcard_match("Max", "MaxConcurrentMigrations"));
    }

    #[test]
    fn format_list_aligns_and_selects_in_pattern_order() {
        let s = render(Format::List, &["EndpointType", "Max*"], true);
        assert_eq!(
            s,
            "\nEndpointType                  : IMAP\n\
             MaxConcurrentMigrations       : 100\n\
             MaxConcurrentIncrementalSyncs : 20\n\n"
        );
    }

    #[test]
    fn json_single_is_an_object_and_lists_are_arrays() {
        let v: Value = serde_json::from_str(&render(Format::Json, &["Port"], true)).unwrap();
        assert_eq!(v, serde_json::json!({"Port": 143}));
        let v: Value = serde_json::from_str(&render(Format::Json, &[], false)).unwrap();
        assert!(v.is_array());
        assert_eq!(v[0]["LastSyncedDateTime"], Value::Null);
    }

    #[test]
    fn table_has_a_header_row() {
        let s = render(Format::Table, &["EndpointType", "Port"], false);
        assert!(
            s.contains("EndpointType") && s.contains("IMAP") && s.contains("143"),
            "{s}"
        );
    }

    #[test]
    fn unknown_select_is_an_error() {
        let mut out = Vec::new();
        let err = print(&mut out, Format::List, &["Nope*".into()], &[record()], true).unwrap_err();
        assert!(err.to_string().contains("matches no property"), "{err}");
    }

    #[test]
    fn control_characters_from_servers_never_reach_the_terminal() {
        assert_eq!(terminal_safe("plain text, é, ü"), "plain text, é, ü");
        assert!(matches!(terminal_safe("no controls"), Cow::Borrowed(_)));
        assert_eq!(
            terminal_safe("NO \u{1b}[31mred\u{1b}[0m\r\u{7}done"),
            "NO \u{fffd}[31mred\u{fffd}[0m\u{fffd}\u{fffd}done"
        );
        assert_eq!(terminal_safe("a\tb\nc"), "a b\nc");
        assert_eq!(
            terminal_safe("\u{9b}2J\u{7f}\u{0}"),
            "\u{fffd}2J\u{fffd}\u{fffd}"
        );
    }

    fn hostile() -> Record {
        Record::new()
            .with("Subject", "\u{1b}]0;owned\u{7}Invoice\r")
            .with("Folder", "Inbox\u{9b}31m")
            .with("Reason", Value::from(vec!["\u{1b}[2J", "fine"]))
    }

    #[test]
    fn list_and_table_values_are_terminal_safe_and_json_keeps_them_exactly() {
        for format in [Format::List, Format::Table] {
            let mut out = Vec::new();
            print(&mut out, format, &[], &[hostile()], true).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                !text.contains(|c: char| c.is_control() && c != '\n'),
                "{format:?}: {text:?}"
            );
            assert!(text.contains("Invoice") && text.contains("Inbox"), "{text}");
        }
        let mut out = Vec::new();
        print(&mut out, Format::Json, &[], &[hostile()], true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains(|c: char| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(
            text.contains("\\u009b") && text.contains("\\u001b"),
            "{text}"
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["Folder"], "Inbox\u{9b}31m");
        assert_eq!(back["Subject"], "\u{1b}]0;owned\u{7}Invoice\r");
    }

    proptest! {
        #[test]
        fn no_output_holds_a_control_character(
            text in any::<String>(),
            picks in proptest::collection::vec(
                prop_oneof![Just('\u{1b}'), Just('\r'), Just('\u{9b}'), Just('\u{7f}'),
                            Just('\t'), Just('\0'), Just('é'), Just('['), Just('\n')],
                0..12,
            ),
        ) {
            let text: String = text.chars().chain(picks).collect();
            let safe = terminal_safe(&text);
            prop_assert!(!safe.contains(|c: char| c.is_control() && c != '\n'), "{:?}", safe);
            // Only control characters change; everything else stays, in order.
            let kept: String = text.chars().filter(|c| !c.is_control()).collect();
            let left: String = safe.chars().filter(|c| *c != '\u{fffd}' && *c != ' ' && *c != '\n').collect();
            let expected: String = kept.chars().filter(|c| *c != '\u{fffd}' && *c != ' ').collect();
            prop_assert_eq!(left, expected);
            for format in [Format::List, Format::Table, Format::Json] {
                let mut out = Vec::new();
                let record = Record::new().with("Text", text.clone());
                print(&mut out, format, &[], &[record], true).unwrap();
                let out = String::from_utf8(out).unwrap();
                prop_assert!(!out.contains(|c: char| c.is_control() && c != '\n'), "{:?}: {:?}", format, out);
                if format == Format::Json {
                    let back: Value = serde_json::from_str(&out).unwrap();
                    prop_assert_eq!(back["Text"].as_str(), Some(text.as_str()));
                }
            }
        }
    }
}
