//! Values of the shell: what variables hold and pipelines carry.

use std::fmt;
use std::rc::Rc;

use secrecy::SecretString;

use super::parser::Block;
use crate::output::Record;

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Bytes(Rc<Vec<u8>>),
    Array(Vec<Value>),
    Object(Rc<PsObject>),
    Credential(Rc<Credential>),
    Block(Rc<Block>),
    /// Text already formatted by Format-List / Format-Table.
    Formatted(String),
}

/// An object with named properties in a fixed order, like a PSObject.
#[derive(Debug, Clone)]
pub struct PsObject {
    pub type_name: String,
    pub props: Vec<(String, Value)>,
    /// The columns PowerShell's default view shows (Exchange's format views), if any.
    pub default_view: Option<&'static [&'static str]>,
}

impl PsObject {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// A PSCredential: a user name and a password that is never shown.
pub struct Credential {
    pub user: String,
    pub password: SecretString,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PSCredential({})", self.user)
    }
}

impl Value {
    pub fn object(
        type_name: &str,
        record: &Record,
        default_view: Option<&'static [&'static str]>,
    ) -> Value {
        Value::Object(Rc::new(PsObject {
            type_name: type_name.to_string(),
            props: record
                .fields()
                .iter()
                .map(|(n, v)| (n.to_string(), Value::from_json(v)))
                .collect(),
            default_view,
        }))
    }

    pub fn from_json(v: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .unwrap_or_else(|| Value::Str(n.to_string())),
            J::String(s) => Value::Str(s.clone()),
            J::Array(items) => Value::Array(items.iter().map(Value::from_json).collect()),
            J::Object(map) => Value::Object(Rc::new(PsObject {
                type_name: "PSCustomObject".into(),
                props: map
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
                default_view: None,
            })),
        }
    }

    /// A property, as `$x.Name` reads it: on an array, the property of each element.
    pub fn member(&self, name: &str) -> Value {
        match self {
            Value::Object(o) => o.get(name).cloned().unwrap_or(Value::Null),
            Value::Credential(c) if name.eq_ignore_ascii_case("UserName") => {
                Value::Str(c.user.clone())
            }
            Value::Array(items) if name.eq_ignore_ascii_case("Count") => {
                Value::Int(items.len() as i64)
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| i.member(name)).collect()),
            Value::Str(s) if name.eq_ignore_ascii_case("Length") => {
                Value::Int(s.chars().count() as i64)
            }
            Value::Bytes(b) if name.eq_ignore_ascii_case("Length") => Value::Int(b.len() as i64),
            _ => Value::Null,
        }
    }

    /// PowerShell's truth: empty strings, 0, $null and empty arrays are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Str(s) | Value::Formatted(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::Array(items) => match items.as_slice() {
                [] => false,
                [one] => one.truthy(),
                _ => true,
            },
            Value::Object(_) | Value::Credential(_) | Value::Block(_) => true,
        }
    }

    /// The values a pipeline carries: arrays are enumerated, $null carries nothing.
    pub fn into_items(self) -> Vec<Value> {
        match self {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            v => vec![v],
        }
    }

    /// A pipeline's output as one value: nothing is $null, one item is itself.
    pub fn from_items(mut items: Vec<Value>) -> Value {
        match items.len() {
            0 => Value::Null,
            1 => items.remove(0),
            _ => Value::Array(items),
        }
    }

    /// How the value reads as text (ToString).
    pub fn display(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(n) => n.to_string(),
            Value::Str(s) | Value::Formatted(s) => s.clone(),
            Value::Bytes(b) => format!("System.Byte[] ({} bytes)", b.len()),
            // $FormatEnumerationLimit is 4.
            Value::Array(items) => {
                let mut parts: Vec<String> = items.iter().take(4).map(Value::display).collect();
                if items.len() > 4 {
                    parts.push("...".into());
                }
                format!("{{{}}}", parts.join(", "))
            }
            Value::Object(o) => {
                let parts: Vec<String> = o
                    .props
                    .iter()
                    .map(|(n, v)| format!("{n}={}", v.display()))
                    .collect();
                format!("@{{{}}}", parts.join("; "))
            }
            Value::Credential(_) => "System.Management.Automation.PSCredential".into(),
            Value::Block(b) => b.text.clone(),
        }
    }
}
