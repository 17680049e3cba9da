//! Running statements: variables, pipelines, expressions, and errors that look like
//! PowerShell's (the cmdlet, where, why, and every underlying cause).

use std::collections::HashMap;
use std::fmt::Write as _;

use super::lexer::Pos;
use super::parser::{Arg, BinOp, Element, Expr, Pipeline, Statement};
use super::value::Value;
use super::{binding, cmdlets};
use crate::Ctx;
use crate::output::wildcard_match;

/// A failed statement.
#[derive(Debug)]
pub struct PsError {
    /// The cmdlet that failed, if one did.
    pub cmdlet: Option<String>,
    pub message: String,
    pub pos: Option<Pos>,
    /// Underlying causes, outermost first.
    pub causes: Vec<String>,
    /// PowerShell's error category (InvalidArgument, ObjectNotFound, ...).
    pub category: &'static str,
}

impl PsError {
    pub fn new(category: &'static str, message: impl Into<String>) -> Self {
        Self {
            cmdlet: None,
            message: message.into(),
            pos: None,
            causes: Vec::new(),
            category,
        }
    }

    pub fn at(mut self, pos: Pos) -> Self {
        self.pos.get_or_insert(pos);
        self
    }

    pub fn in_cmdlet(mut self, name: &str) -> Self {
        self.cmdlet.get_or_insert_with(|| name.to_string());
        self
    }

    /// A failure of the shared command code, its whole cause chain kept.
    pub fn from_anyhow(e: &anyhow::Error) -> Self {
        let mut err = Self::new("InvalidOperation", e.to_string());
        err.causes = e.chain().skip(1).map(ToString::to_string).collect();
        err
    }

    /// The error as PowerShell prints it; `origin` is the script path or "line".
    pub fn render(&self, origin: &str, source: &str) -> String {
        let mut out = String::new();
        match &self.cmdlet {
            Some(c) => {
                let _ = writeln!(out, "{c} : {}", self.message);
            }
            None => {
                let _ = writeln!(out, "{}", self.message);
            }
        }
        if let Some(pos) = self.pos {
            let _ = writeln!(out, "At {origin}:{} char:{}", pos.line, pos.col);
            if let Some(line) = source.lines().nth(pos.line.saturating_sub(1)) {
                let _ = writeln!(out, "+ {line}");
                let start = pos.col.saturating_sub(1);
                let rest: String = line.chars().skip(start).collect();
                let width = match &self.cmdlet {
                    Some(c) if rest.starts_with(c.as_str()) => c.chars().count(),
                    _ => rest
                        .split_whitespace()
                        .next()
                        .map_or(1, |w| w.chars().count()),
                };
                let _ = writeln!(out, "+ {}{}", " ".repeat(start), "~".repeat(width.max(1)));
            }
        }
        let _ = writeln!(
            out,
            "    + CategoryInfo          : {}{}",
            self.category,
            self.cmdlet
                .as_deref()
                .map(|c| format!(": [{c}]"))
                .unwrap_or_default()
        );
        for cause in &self.causes {
            let _ = writeln!(out, "    + caused by: {cause}");
        }
        out
    }
}

pub type PsResult<T> = Result<T, PsError>;

/// The session: the state the cmdlets act on, and the variables.
pub struct Shell<'a> {
    pub ctx: &'a Ctx,
    pub rt: tokio::runtime::Handle,
    vars: HashMap<String, Value>,
}

impl<'a> Shell<'a> {
    pub fn new(ctx: &'a Ctx, rt: tokio::runtime::Handle) -> Self {
        Self {
            ctx,
            rt,
            vars: HashMap::new(),
        }
    }

    /// Runs async command code from the (synchronous) evaluator; the shell runs inside
    /// `block_in_place`, so this does not stall the runtime.
    pub fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub fn var(&self, name: &str) -> Value {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            "null" => return Value::Null,
            _ => {}
        }
        if let Some(env) = lower.strip_prefix("env:") {
            let _ = env;
            return std::env::var(&name[4..])
                .map(Value::Str)
                .unwrap_or(Value::Null);
        }
        if lower == "psitem" {
            return self.vars.get("_").cloned().unwrap_or(Value::Null);
        }
        self.vars.get(&lower).cloned().unwrap_or(Value::Null)
    }

    pub fn set_var(&mut self, name: &str, value: Value) {
        self.vars.insert(name.to_ascii_lowercase(), value);
    }

    /// Whether a failed statement stops the script ($ErrorActionPreference).
    pub fn stop_on_error(&self) -> bool {
        !matches!(self.var("ErrorActionPreference"), Value::Str(s)
            if s.eq_ignore_ascii_case("Continue") || s.eq_ignore_ascii_case("SilentlyContinue"))
    }

    /// Runs one statement; returns what it outputs.
    pub fn statement(&mut self, s: &Statement) -> PsResult<Vec<Value>> {
        match s {
            Statement::Assign { var, value, pos } => {
                if matches!(var.to_ascii_lowercase().as_str(), "true" | "false" | "null") {
                    return Err(PsError::new(
                        "WriteError",
                        format!(
                            "Cannot overwrite variable {var} because it is read-only or constant."
                        ),
                    )
                    .at(*pos));
                }
                let v = Value::from_items(self.pipeline(value, Vec::new())?);
                self.set_var(var, v);
                Ok(Vec::new())
            }
            Statement::Pipeline(p) => self.pipeline(p, Vec::new()),
        }
    }

    pub fn pipeline(&mut self, p: &Pipeline, input: Vec<Value>) -> PsResult<Vec<Value>> {
        for element in &p.elements {
            if let Element::Command(c) = element {
                cmdlets::check_exists(&c.name, c.pos)?;
            }
        }
        let mut items = input;
        for element in &p.elements {
            items = match element {
                Element::Expr(e) => self.eval(e)?.into_items(),
                Element::Command(c) => {
                    let mut args = Vec::with_capacity(c.args.len());
                    for a in &c.args {
                        args.push(match a {
                            Arg::Param { name, value, pos } => binding::ArgValue::Param {
                                name: name.clone(),
                                value: value.as_ref().map(|e| self.eval(e)).transpose()?,
                                pos: *pos,
                            },
                            Arg::Value(e) => binding::ArgValue::Value(self.eval(e)?),
                        });
                    }
                    cmdlets::invoke(self, &c.name, c.pos, args, items)?
                }
            };
        }
        Ok(items)
    }

    pub fn eval(&mut self, e: &Expr) -> PsResult<Value> {
        Ok(match e {
            Expr::Str(s) => Value::Str(s.clone()),
            Expr::Expandable(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        super::lexer::StrPart::Lit(l) => s.push_str(l),
                        // An array expands to its items separated by spaces ($OFS).
                        super::lexer::StrPart::Var(v) => match self.var(v) {
                            Value::Array(items) => s.push_str(
                                &items
                                    .iter()
                                    .map(Value::display)
                                    .collect::<Vec<_>>()
                                    .join(" "),
                            ),
                            v => s.push_str(&v.display()),
                        },
                    }
                }
                Value::Str(s)
            }
            Expr::Number(n) => Value::Int(*n),
            Expr::Var(v, _) => self.var(v),
            Expr::Member(inner, name, _) => self.eval(inner)?.member(name),
            Expr::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i)?);
                }
                Value::Array(out)
            }
            Expr::Paren(p) => Value::from_items(self.pipeline(p, Vec::new())?),
            Expr::SubArray(statements) => {
                let mut out = Vec::new();
                for s in statements {
                    out.extend(self.statement(s)?);
                }
                Value::Array(out)
            }
            Expr::Block(b) => Value::Block(b.clone()),
            Expr::Not(inner) => Value::Bool(!self.eval(inner)?.truthy()),
            Expr::Binary(BinOp::And, l, r, _) => {
                Value::Bool(self.eval(l)?.truthy() && self.eval(r)?.truthy())
            }
            Expr::Binary(BinOp::Or, l, r, _) => {
                Value::Bool(self.eval(l)?.truthy() || self.eval(r)?.truthy())
            }
            Expr::Binary(op, l, r, pos) => {
                let (l, r) = (self.eval(l)?, self.eval(r)?);
                match l {
                    // On a collection, a comparison filters it.
                    Value::Array(items) => {
                        let mut kept = Vec::new();
                        for i in items {
                            if compare(*op, &i, &r).map_err(|e| e.at(*pos))? {
                                kept.push(i);
                            }
                        }
                        Value::Array(kept)
                    }
                    l => Value::Bool(compare(*op, &l, &r).map_err(|e| e.at(*pos))?),
                }
            }
            Expr::StaticCall {
                type_name,
                method,
                args,
                pos,
            } => {
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.eval(a)?);
                }
                static_call(type_name, method, &values).map_err(|e| e.at(*pos))?
            }
        })
    }

    /// Runs a script block with `$_` set to `item`; its output as one value.
    pub fn run_block(&mut self, block: &super::parser::Block, item: &Value) -> PsResult<Value> {
        let saved = self.vars.insert("_".into(), item.clone());
        let mut out = Vec::new();
        let mut result = Ok(());
        for s in &block.statements {
            match self.statement(s) {
                Ok(v) => out.extend(v),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        match saved {
            Some(v) => self.vars.insert("_".into(), v),
            None => self.vars.remove("_"),
        };
        result.map(|()| Value::from_items(out))
    }
}

fn as_number(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::Str(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// PowerShell's comparison: case-insensitive, the right side converted to the left's type.
fn compare(op: BinOp, l: &Value, r: &Value) -> PsResult<bool> {
    let ordering = || -> std::cmp::Ordering {
        match (as_number(l), as_number(r)) {
            (Some(a), Some(b)) if matches!(l, Value::Int(_)) || matches!(r, Value::Int(_)) => {
                a.cmp(&b)
            }
            _ => l.display().to_lowercase().cmp(&r.display().to_lowercase()),
        }
    };
    let equal = || match (l, r) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => ordering().is_eq(),
    };
    Ok(match op {
        BinOp::Eq => equal(),
        BinOp::Ne => !equal(),
        BinOp::Gt => ordering().is_gt(),
        BinOp::Ge => ordering().is_ge(),
        BinOp::Lt => ordering().is_lt(),
        BinOp::Le => ordering().is_le(),
        BinOp::Like => wildcard_match(&r.display(), &l.display()),
        BinOp::NotLike => !wildcard_match(&r.display(), &l.display()),
        BinOp::Match | BinOp::NotMatch => {
            return Err(PsError::new(
                "NotImplemented",
                "-match (regular expressions) is not supported by this shell; use -like with * and ? wildcards",
            ));
        }
        BinOp::And | BinOp::Or => unreachable!("evaluated before"),
    })
}

/// The .NET static methods scripts use to read files: [System.IO.File]::ReadAllBytes
/// (as Exchange's IMAP migration examples pass -CSVData) and ::ReadAllText.
fn static_call(type_name: &str, method: &str, args: &[Value]) -> PsResult<Value> {
    let t = type_name.to_ascii_lowercase();
    let file = matches!(t.as_str(), "system.io.file" | "io.file");
    let path = || -> PsResult<String> {
        match args {
            [Value::Str(p)] => Ok(p.clone()),
            _ => Err(PsError::new(
                "InvalidArgument",
                format!("[{type_name}]::{method} takes one argument, the file's path"),
            )),
        }
    };
    let read = |p: &str| {
        std::fs::read(p).map_err(|e| {
            let mut err = PsError::new(
                "ReadError",
                format!(
                    "Exception calling \"{method}\" with \"1\" argument(s): cannot read \"{p}\""
                ),
            );
            err.causes.push(e.to_string());
            err
        })
    };
    match method.to_ascii_lowercase().as_str() {
        "readallbytes" if file => Ok(Value::Bytes(std::rc::Rc::new(read(&path()?)?))),
        "readalltext" if file => {
            let p = path()?;
            let bytes = read(&p)?;
            Ok(Value::Str(String::from_utf8_lossy(&bytes).into_owned()))
        }
        _ => Err(PsError::new(
            "NotImplemented",
            format!(
                "[{type_name}]::{method} is not supported by this shell; only [System.IO.File]::ReadAllBytes(path) and ::ReadAllText(path) are"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::output::Format;
    use crate::ps::parser::parse;

    /// Runs `src` in a shell over an empty state; the output of each statement as text.
    fn run(src: &str) -> Result<Vec<String>, PsError> {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let store = rt
            .block_on(cutover_store::SqliteStore::open(&url, None))
            .unwrap();
        let ctx = Ctx {
            store: Arc::new(store),
            format: Format::List,
            select: Vec::new(),
        };
        let mut shell = Shell::new(&ctx, rt.handle().clone());
        let mut out = Vec::new();
        for s in parse(src).expect("parses") {
            let items = shell.statement(&s)?;
            out.extend(items.iter().map(Value::display));
        }
        Ok(out)
    }

    fn error(src: &str) -> PsError {
        run(src).expect_err("should fail")
    }

    #[test]
    fn variables_are_case_insensitive_and_strings_expand_them() {
        assert_eq!(
            run("$Items = 'a','b'\n$items.Count\n\"v=$ITEMS\"\n$unset").unwrap(),
            // An unset variable is $null, which outputs nothing.
            ["2", "v=a b"]
        );
        assert!(error("$true = 1").message.contains("read-only"));
    }

    #[test]
    fn comparisons_follow_powershell() {
        assert_eq!(
            run(
                "5 -gt 10; '5' -eq 5; 'Failed' -eq 'FAILED'; 'alice@contoso.test' -like 'A*.test'; \
                 $null -eq $null; -not $null; $true -and $null; 1,2,3 -gt 1"
            )
            .unwrap(),
            [
                "False", "True", "True", "True", "True", "True", "False", "2", "3"
            ]
        );
        assert!(error("'a' -match 'a'").message.contains("-like"));
    }

    #[test]
    fn pipelines_filter_select_and_expand() {
        assert_eq!(
            run("Get-Command | Where-Object {$_.Name -like 'Format-*'} | Select-Object -ExpandProperty Name")
                .unwrap(),
            ["Format-List", "Format-Table"]
        );
        assert_eq!(
            run("Get-Command | Select-Object Name -First 1 | ForEach-Object {$_.Name}").unwrap(),
            ["Complete-MigrationBatch"]
        );
        assert_eq!(run("(Get-Command).Count -gt 20").unwrap(), ["True"]);
    }

    #[test]
    fn binding_errors_name_the_cmdlet_and_the_parameter() {
        let e = error("Get-MigrationBatch -Identity");
        assert_eq!(e.cmdlet.as_deref(), Some("Get-MigrationBatch"));
        assert!(
            e.message
                .contains("Missing an argument for parameter 'Identity'"),
            "{e:?}"
        );
        assert_eq!(e.pos, Some(Pos { line: 1, col: 20 }));

        let e = error("New-MigrationEndpoint -Max 3");
        assert!(
            e.message.contains("ambiguous") && e.message.contains("-MaxConcurrentMigrations"),
            "{e:?}"
        );

        let e = error("Get-MigrationBatch a b");
        assert!(
            e.message
                .contains("positional parameter cannot be found that accepts argument 'b'"),
            "{e:?}"
        );

        let e = error("Get-MigrationBatch -Identity a -Id b");
        assert!(e.message.contains("more than once"), "{e:?}");

        let e = error("New-MigrationBatch -Name B");
        assert!(
            e.message
                .contains("missing mandatory parameters: SourceEndpoint"),
            "{e:?}"
        );

        let e = error("Set-MigrationEndpoint E -Port nope");
        assert!(
            e.message.contains("Cannot process parameter 'Port'"),
            "{e:?}"
        );
        assert_eq!(e.pos, Some(Pos { line: 1, col: 25 }));
    }

    #[test]
    fn command_failures_keep_their_causes() {
        let e = error(
            "New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([System.IO.File]::ReadAllBytes('/nonexistent/users.csv'))",
        );
        assert!(e.message.contains("ReadAllBytes"), "{e:?}");
        assert!(e.causes.iter().any(|c| c.contains("No such file")), "{e:?}");
        let e = error("Get-MigrationUser nobody@contoso.test");
        assert!(
            e.message
                .contains("no migration user 'nobody@contoso.test'"),
            "{e:?}"
        );
        assert_eq!(e.category, "InvalidOperation");
    }
}
