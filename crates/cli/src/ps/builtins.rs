//! The language's own cmdlets: Get-Credential, the formatters and filters
//! (Format-List, Format-Table, Select-Object, Where-Object, ForEach-Object) and a few
//! helpers scripts use (Write-Output, Write-Host, Get-Content, Out-Null, Get-Command).

use std::io::IsTerminal;
use std::rc::Rc;

use secrecy::SecretString;

use super::binding::Bound;
use super::eval::{PsResult, Shell};
use super::format;
use super::value::{Credential, PsObject, Value};

/// Get-Credential: a prompt on a terminal; in scripts CUTOVER_CREDENTIAL_USER with
/// CUTOVER_CREDENTIAL_PASSWORD or CUTOVER_CREDENTIAL_PASSWORD_FILE.
pub(super) fn get_credential(_: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let given = b.string("UserName")?.or(b.string("Credential")?);
    let env_user = std::env::var("CUTOVER_CREDENTIAL_USER")
        .ok()
        .filter(|u| !u.is_empty());
    let env_password = match (
        std::env::var("CUTOVER_CREDENTIAL_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()),
        std::env::var_os("CUTOVER_CREDENTIAL_PASSWORD_FILE"),
    ) {
        (Some(p), _) => Some(p),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                let mut err = b.param_err(
                    "Credential",
                    format!(
                        "CUTOVER_CREDENTIAL_PASSWORD_FILE {}: cannot read it",
                        std::path::Path::new(&path).display()
                    ),
                );
                err.causes.push(e.to_string());
                err
            })?;
            Some(text.lines().next().unwrap_or("").to_string()).filter(|p| !p.is_empty())
        }
        (None, None) => None,
    };
    let tty = std::io::stdin().is_terminal();
    let user = match given.or(env_user) {
        Some(u) => u,
        None if tty => {
            eprint!("User: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| {
                let mut err = b.err("ReadError", "cannot read the user name");
                err.causes.push(e.to_string());
                err
            })?;
            line.trim().to_string()
        }
        None => {
            return Err(b.err(
                "InvalidOperation",
                "No terminal to prompt on: set CUTOVER_CREDENTIAL_USER and CUTOVER_CREDENTIAL_PASSWORD \
                 (or CUTOVER_CREDENTIAL_PASSWORD_FILE, a file whose first line is the password).",
            ));
        }
    };
    let password = match env_password {
        Some(p) => p,
        None if tty => {
            rpassword::prompt_password(format!("Password for user {user}: ")).map_err(|e| {
                let mut err = b.err("ReadError", "cannot read the password");
                err.causes.push(e.to_string());
                err
            })?
        }
        None => {
            return Err(b.err(
                "InvalidOperation",
                "No terminal to prompt on: set CUTOVER_CREDENTIAL_PASSWORD or CUTOVER_CREDENTIAL_PASSWORD_FILE.",
            ));
        }
    };
    if user.is_empty() || password.is_empty() {
        return Err(b.err(
            "InvalidArgument",
            "The user name and the password may not be empty.",
        ));
    }
    Ok(vec![Value::Credential(Rc::new(Credential {
        user,
        password: SecretString::from(password),
    }))])
}

pub(super) fn property_patterns(b: &Bound) -> Vec<String> {
    b.strings("Property").unwrap_or_default()
}

pub(super) fn format_list(_: &mut Shell<'_>, b: &Bound, input: Vec<Value>) -> PsResult<Vec<Value>> {
    Ok(vec![Value::Formatted(format::list(
        &input,
        &property_patterns(b),
    ))])
}

pub(super) fn format_table(
    _: &mut Shell<'_>,
    b: &Bound,
    input: Vec<Value>,
) -> PsResult<Vec<Value>> {
    Ok(vec![Value::Formatted(format::table(
        &input,
        &property_patterns(b),
    ))])
}

pub(super) fn select_object(
    _: &mut Shell<'_>,
    b: &Bound,
    input: Vec<Value>,
) -> PsResult<Vec<Value>> {
    let mut items = input;
    if let Some(n) = b.number::<usize>("First")? {
        items.truncate(n);
    }
    if let Some(n) = b.number::<usize>("Last")? {
        let skip = items.len().saturating_sub(n);
        items.drain(..skip);
    }
    if let Some(name) = b.string("ExpandProperty")? {
        return Ok(items
            .iter()
            .flat_map(|i| i.member(&name).into_items())
            .collect());
    }
    let patterns = property_patterns(b);
    if patterns.is_empty() {
        return Ok(items);
    }
    Ok(items
        .into_iter()
        .map(|i| match &i {
            Value::Object(o) => {
                let mut props = Vec::new();
                for p in &patterns {
                    for (n, v) in &o.props {
                        if crate::output::wildcard_match(p, n)
                            && !props.iter().any(|(m, _): &(String, Value)| m == n)
                        {
                            props.push((n.clone(), v.clone()));
                        }
                    }
                }
                Value::Object(Rc::new(PsObject {
                    type_name: "Selected.".to_string() + &o.type_name,
                    props,
                    default_view: None,
                }))
            }
            _ => i,
        })
        .collect())
}

pub(super) fn where_object(
    shell: &mut Shell<'_>,
    b: &Bound,
    input: Vec<Value>,
) -> PsResult<Vec<Value>> {
    let Some(Value::Block(block)) = b.value("FilterScript").cloned() else {
        return Err(b.param_err(
            "FilterScript",
            "A script block is expected: Where-Object {$_.Status -eq 'Failed'}",
        ));
    };
    let mut out = Vec::new();
    for item in input {
        if shell.run_block(&block, &item)?.truthy() {
            out.push(item);
        }
    }
    Ok(out)
}

pub(super) fn foreach_object(
    shell: &mut Shell<'_>,
    b: &Bound,
    input: Vec<Value>,
) -> PsResult<Vec<Value>> {
    let Some(Value::Block(block)) = b.value("Process").cloned() else {
        return Err(b.param_err(
            "Process",
            "A script block is expected: ForEach-Object {$_.Identity}",
        ));
    };
    let mut out = Vec::new();
    for item in input {
        out.extend(shell.run_block(&block, &item)?.into_items());
    }
    Ok(out)
}

pub(super) fn write_output(
    _: &mut Shell<'_>,
    b: &Bound,
    input: Vec<Value>,
) -> PsResult<Vec<Value>> {
    let mut out = input;
    if let Some(v) = b.value("InputObject") {
        out.extend(v.clone().into_items());
    }
    Ok(out)
}

pub(super) fn write_host(_: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let text = match b.value("Object") {
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::display)
            .collect::<Vec<_>>()
            .join(" "),
        Some(v) => v.display(),
        None => String::new(),
    };
    println!("{}", crate::output::terminal_safe(&text));
    Ok(Vec::new())
}

pub(super) fn get_content(_: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let path = b.required("Path")?;
    let bytes = std::fs::read(&path).map_err(|e| {
        let mut err = b.err(
            "ObjectNotFound",
            format!("Cannot find or read path '{path}'."),
        );
        err.causes.push(e.to_string());
        err
    })?;
    if b.string("Encoding")?
        .is_some_and(|e| e.eq_ignore_ascii_case("Byte"))
        || b.switch("AsByteStream")
    {
        return Ok(vec![Value::Bytes(Rc::new(bytes))]);
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if b.switch("Raw") {
        return Ok(vec![Value::Str(text)]);
    }
    Ok(text.lines().map(|l| Value::Str(l.to_string())).collect())
}

pub(super) fn out_null(_: &mut Shell<'_>, _: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    Ok(Vec::new())
}

pub(super) fn get_command(_: &mut Shell<'_>, _: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let mut names: Vec<&str> = super::cmdlets::names();
    names.sort_unstable();
    Ok(names
        .into_iter()
        .map(|n| {
            Value::Object(Rc::new(PsObject {
                type_name: "CmdletInfo".into(),
                props: vec![
                    ("CommandType".into(), Value::Str("Cmdlet".into())),
                    ("Name".into(), Value::Str(n.into())),
                ],
                default_view: None,
            }))
        })
        .collect())
}
