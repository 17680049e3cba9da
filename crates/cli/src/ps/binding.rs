//! Binding a command's arguments to a cmdlet's parameters, as PowerShell does: by name
//! (or an unambiguous prefix), `-Switch` or `-Switch:$false`, then by position; and the
//! typed readers the cmdlets use, whose errors name the cmdlet and the parameter.

use std::rc::Rc;

use cutover_model::Security;

use super::eval::{PsError, PsResult, Shell};
use super::lexer::Pos;
use super::value::{Credential, Value};

/// An argument as written: `-Name` (with its `-Name:value`) or a value.
pub enum ArgValue {
    Param {
        name: String,
        value: Option<Value>,
        pos: Pos,
    },
    Value(Value),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Switch,
    Value,
}

pub(super) struct Param {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    /// Bound from the n-th positional argument.
    pub(super) position: Option<usize>,
    pub(super) mandatory: bool,
}

pub(super) const fn sw(name: &'static str) -> Param {
    Param {
        name,
        kind: Kind::Switch,
        position: None,
        mandatory: false,
    }
}

pub(super) const fn val(name: &'static str) -> Param {
    Param {
        name,
        kind: Kind::Value,
        position: None,
        mandatory: false,
    }
}

pub(super) const fn pos0(name: &'static str) -> Param {
    Param {
        name,
        kind: Kind::Value,
        position: Some(0),
        mandatory: false,
    }
}

pub(super) const fn req(name: &'static str) -> Param {
    Param {
        name,
        kind: Kind::Value,
        position: None,
        mandatory: true,
    }
}

pub(super) type Run = fn(&mut Shell<'_>, &Bound, Vec<Value>) -> PsResult<Vec<Value>>;

pub(super) struct Cmdlet {
    pub(super) name: &'static str,
    pub(super) params: &'static [Param],
    pub(super) run: Run,
    /// Reads its pipeline input itself (formatters, filters); otherwise input objects
    /// bind to -Identity, one call each.
    pub(super) takes_input: bool,
}

/// The parameters of one call, bound by name and position.
pub struct Bound {
    pub(super) cmdlet: &'static str,
    pub(super) values: Vec<(&'static str, Value)>,
    pub(super) switches: Vec<(&'static str, bool)>,
    /// Where each named parameter was written, for errors.
    pub(super) positions: Vec<(&'static str, Pos)>,
}

impl Bound {
    pub(super) fn err(&self, category: &'static str, message: impl Into<String>) -> PsError {
        PsError::new(category, message).in_cmdlet(self.cmdlet)
    }

    pub(super) fn param_err(&self, param: &str, reason: impl std::fmt::Display) -> PsError {
        let e = self.err(
            "InvalidArgument",
            format!("Cannot process parameter '{param}'. {reason}"),
        );
        match self.positions.iter().find(|(n, _)| *n == param) {
            Some((_, pos)) => e.at(*pos),
            None => e,
        }
    }

    pub(super) fn value(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub(super) fn switch(&self, name: &str) -> bool {
        self.switches.iter().any(|(n, on)| *n == name && *on)
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.value(name).is_some() || self.switches.iter().any(|(n, _)| *n == name)
    }

    pub(super) fn string(&self, name: &str) -> PsResult<Option<String>> {
        let Some(v) = self.value(name) else {
            return Ok(None);
        };
        match v {
            Value::Null => Err(self.param_err(
                name,
                "Cannot bind argument to parameter because it is null.",
            )),
            Value::Str(s) => Ok(Some(s.clone())),
            Value::Int(n) => Ok(Some(n.to_string())),
            // An object given as -Identity stands for its identity.
            Value::Object(o) if o.get("Identity").is_some() => {
                Ok(o.get("Identity").map(Value::display))
            }
            Value::Array(items) if items.len() == 1 => Ok(Some(items[0].display())),
            other => Err(self.param_err(
                name,
                format!("A string is expected, not {}.", describe(other)),
            )),
        }
    }

    pub(super) fn required(&self, name: &str) -> PsResult<String> {
        self.string(name)?.ok_or_else(|| {
            self.err(
                "InvalidArgument",
                format!("Cannot process command because of one or more missing mandatory parameters: {name}."),
            )
        })
    }

    pub(super) fn number<T: TryFrom<i64>>(&self, name: &str) -> PsResult<Option<T>> {
        let Some(v) = self.value(name) else {
            return Ok(None);
        };
        let n = match v {
            Value::Int(n) => Some(*n),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        };
        n.and_then(|n| T::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                self.param_err(
                    name,
                    format!(
                        "Cannot convert value \"{}\" to a non-negative number in range.",
                        v.display()
                    ),
                )
            })
    }

    pub(super) fn strings(&self, name: &str) -> PsResult<Vec<String>> {
        match self.value(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.iter().map(Value::display).collect()),
            Some(Value::Null) => Ok(Vec::new()),
            Some(v) => Ok(vec![v.display()]),
        }
    }

    pub(super) fn credential(&self, name: &str) -> PsResult<Option<Rc<Credential>>> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Credential(c)) => Ok(Some(c.clone())),
            Some(other) => Err(self.param_err(
                name,
                format!(
                    "A PSCredential is expected, not {}: use $Credentials = Get-Credential, then -{name} $Credentials.",
                    describe(other)
                ),
            )),
        }
    }

    /// `-Security`: Exchange's names. `Tls` is refused: Exchange's IMAP endpoints mean
    /// STARTTLS by it, while cutover's objects show `Tls` for TLS from the first byte.
    pub(super) fn security(&self) -> PsResult<Option<Security>> {
        let Some(s) = self.string("Security")? else {
            return Ok(None);
        };
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Some(Security::None)),
            "ssl" => Ok(Some(Security::Tls)),
            "starttls" => Ok(Some(Security::StartTls)),
            "tls" => Err(self.param_err(
                "Security",
                "'Tls' is ambiguous: Exchange's IMAP endpoints mean STARTTLS by it, cutover's output \
                 means TLS from the first byte. Write StartTls (STARTTLS, port 143) or Ssl (TLS, port 993).",
            )),
            _ => Err(self.param_err(
                "Security",
                format!("'{s}' is not one of None, Ssl (TLS, port 993) or StartTls (port 143)."),
            )),
        }
    }

    pub(super) fn parsed<T: std::str::FromStr<Err = String>>(
        &self,
        name: &str,
    ) -> PsResult<Option<T>> {
        self.string(name)?
            .map(|s| s.parse::<T>().map_err(|e| self.param_err(name, e)))
            .transpose()
    }

    pub(super) fn anyhow(&self, e: anyhow::Error) -> PsError {
        let mut err = PsError::from_anyhow(&e).in_cmdlet(self.cmdlet);
        err.message = in_cmdlet_terms(&err.message);
        err.causes = err.causes.iter().map(|c| in_cmdlet_terms(c)).collect();
        err
    }
}

/// The shared command code names the command line's options and commands in its hints;
/// in the shell they read as the cmdlets' parameters and cmdlets.
pub(super) fn in_cmdlet_terms(message: &str) -> String {
    const TERMS: &[(&str, &str)] = &[
        ("`cutover batch get`", "Get-MigrationBatch"),
        ("`cutover batch start`", "Start-MigrationBatch"),
        ("`cutover batch start ", "`Start-MigrationBatch "),
        ("`cutover batch remove ", "`Remove-MigrationBatch "),
        ("`cutover endpoint get`", "Get-MigrationEndpoint"),
        ("`cutover domain get ", "`Get-AcceptedDomain "),
        ("`cutover license get`", "Get-MsolUser"),
        ("--skip-domain-check", "-SkipDomainCheck"),
        ("--auth oauth2", "-Authentication OAuth"),
        ("--auth password", "-Authentication Basic"),
        ("--oauth-provider", "-OAuthProvider"),
        ("--tenant", "-TenantId"),
        ("--client-id", "-ApplicationId"),
        ("--client-secret-file", "-ClientSecretFile"),
        ("--certificate-file", "-CertificateFile"),
        ("--service-account-key", "-ServiceAccountKeyFile"),
        ("--token-url", "-TokenUrl"),
        ("--scope", "-Scope"),
        ("--dns-server", "-DnsServer"),
        ("--allow-redirect", "-AllowRedirect"),
        ("--allow-plaintext", "-AllowPlaintext"),
        ("`cutover endpoint new`", "New-MigrationEndpoint"),
        ("`cutover endpoint set ", "`Set-MigrationEndpoint "),
        ("--skip-verification", "-SkipVerification"),
        ("--source-endpoint", "-SourceEndpoint"),
        ("--bad-item-limit", "-BadItemLimit"),
        ("--large-item-limit", "-LargeItemLimit"),
        ("--incremental-interval", "-IncrementalSyncInterval"),
        ("--impersonation", "-Impersonation"),
        ("--compression", "-Compression"),
        ("--security", "-Security"),
        ("--ca-file", "-CaFile"),
        ("--force", "-Force"),
        ("--batch", "-BatchId"),
        ("--status", "-Status"),
    ];
    let mut out = message.to_string();
    for (cli, cmdlet) in TERMS {
        out = out.replace(cli, cmdlet);
    }
    out
}

pub(super) fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "$null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "a number",
        Value::Str(_) | Value::Formatted(_) => "a string",
        Value::Bytes(_) => "a byte array",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        Value::Credential(_) => "a PSCredential",
        Value::Block(_) => "a script block",
    }
}

pub(super) fn bind(c: &Cmdlet, args: Vec<ArgValue>) -> PsResult<Bound> {
    let mut b = Bound {
        cmdlet: c.name,
        values: Vec::new(),
        switches: Vec::new(),
        positions: Vec::new(),
    };
    let mut positional = Vec::new();
    let mut args = args.into_iter().peekable();
    while let Some(a) = args.next() {
        match a {
            ArgValue::Value(v) => positional.push(v),
            ArgValue::Param { name, value, pos } => {
                let p = resolve(c, &name).map_err(|e| e.at(pos))?;
                if b.has(p.name) {
                    return Err(b
                        .err(
                            "InvalidArgument",
                            format!("Cannot bind parameter because parameter '{}' is specified more than once.", p.name),
                        )
                        .at(pos));
                }
                b.positions.push((p.name, pos));
                match (p.kind, value) {
                    (Kind::Switch, None) => b.switches.push((p.name, true)),
                    (Kind::Switch, Some(v)) => b.switches.push((p.name, v.truthy())),
                    (Kind::Value, Some(v)) => b.values.push((p.name, v)),
                    (Kind::Value, None) => {
                        match args.next_if(|a| matches!(a, ArgValue::Value(_))) {
                            Some(ArgValue::Value(v)) => b.values.push((p.name, v)),
                            _ => {
                                return Err(b
                                .err(
                                    "InvalidArgument",
                                    format!("Missing an argument for parameter '{}'. Specify a value and try again.", p.name),
                                )
                                .at(pos));
                            }
                        }
                    }
                }
            }
        }
    }
    let free: Vec<&Param> = c
        .params
        .iter()
        .filter(|p| p.position.is_some() && !b.has(p.name))
        .collect();
    let mut free = free.into_iter();
    for v in positional {
        match free.next() {
            Some(p) => b.values.push((p.name, v)),
            None => {
                return Err(b.err(
                    "InvalidArgument",
                    format!(
                        "A positional parameter cannot be found that accepts argument '{}'.",
                        v.display()
                    ),
                ));
            }
        }
    }
    Ok(b)
}

/// A parameter by name: exact, or an unambiguous prefix (PowerShell accepts `-Id`).
fn resolve<'c>(c: &'c Cmdlet, name: &str) -> PsResult<&'c Param> {
    if let Some(p) = c.params.iter().find(|p| p.name.eq_ignore_ascii_case(name)) {
        return Ok(p);
    }
    let lower = name.to_ascii_lowercase();
    let matches: Vec<&Param> = c
        .params
        .iter()
        .filter(|p| p.name.to_ascii_lowercase().starts_with(&lower))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(PsError::new(
            "InvalidArgument",
            format!("A parameter cannot be found that matches parameter name '{name}'."),
        )
        .in_cmdlet(c.name)),
        many => Err(PsError::new(
            "InvalidArgument",
            format!(
                "Parameter cannot be processed because the parameter name '{name}' is ambiguous. Possible matches include: {}.",
                many.iter().map(|p| format!("-{}", p.name)).collect::<Vec<_>>().join(" ")
            ),
        )
        .in_cmdlet(c.name)),
    }
}

#[cfg(test)]
mod tests {
    use super::in_cmdlet_terms;

    #[test]
    pub(super) fn hints_of_the_shared_code_name_cmdlets_and_their_parameters() {
        assert_eq!(
            in_cmdlet_terms(
                "batch 'B' was not found; `cutover batch get` lists them; or use `cutover batch remove B --force`"
            ),
            "batch 'B' was not found; Get-MigrationBatch lists them; or use `Remove-MigrationBatch B -Force`"
        );
        assert_eq!(
            in_cmdlet_terms(
                "--source-endpoint: endpoint 'E' was not found; create it with `cutover endpoint new`"
            ),
            "-SourceEndpoint: endpoint 'E' was not found; create it with New-MigrationEndpoint"
        );
        assert_eq!(
            in_cmdlet_terms(
                "to send it there, give --allow-redirect ad.hoster.test; or give --allow-plaintext"
            ),
            "to send it there, give -AllowRedirect ad.hoster.test; or give -AllowPlaintext"
        );
    }
}
