//! The users CSV in Exchange's IMAP-migration format:
//! `EmailAddress,UserName,Password`, where UserName (the source login) and Password
//! (the user's own source password) may be empty or absent.

use std::collections::HashMap;
use std::fmt;

use secrecy::SecretString;

use crate::names::EmailAddress;

const EMAIL: &str = "EmailAddress";
const USER_NAME: &str = "UserName";
const PASSWORD: &str = "Password";

/// One valid row.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// 1-based line in the file, for messages.
    pub line: u64,
    pub email: EmailAddress,
    pub user_name: Option<String>,
    pub password: Option<SecretString>,
}

/// What is wrong with a users CSV: every problem found, each naming its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("{0}")]
    Header(String),
    #[error("{}", format_problems(.0))]
    Rows(Vec<String>),
    #[error("the users CSV has no user rows; add one line per mailbox under the header")]
    NoUsers,
}

fn format_problems(problems: &[String]) -> String {
    let mut s = format!("the users CSV has {} problem(s):", problems.len());
    for p in problems {
        s.push_str("\n  ");
        s.push_str(p);
    }
    s
}

struct Columns {
    email: usize,
    user_name: Option<usize>,
    password: Option<usize>,
}

fn header_columns(header: &csv::StringRecord) -> Result<Columns, CsvError> {
    let mut found: HashMap<&'static str, usize> = HashMap::new();
    for (i, raw) in header.iter().enumerate() {
        let name = raw.trim().trim_start_matches('\u{feff}');
        let known = [EMAIL, USER_NAME, PASSWORD]
            .into_iter()
            .find(|k| k.eq_ignore_ascii_case(name));
        match known {
            Some(k) if found.contains_key(k) => {
                return Err(CsvError::Header(format!(
                    "the users CSV header names column '{k}' twice"
                )));
            }
            Some(k) => {
                found.insert(k, i);
            }
            None => {
                return Err(CsvError::Header(format!(
                    "the users CSV header has an unknown column '{name}' (column {}); \
                     the header must be {EMAIL},{USER_NAME},{PASSWORD}",
                    i + 1
                )));
            }
        }
    }
    let email = *found.get(EMAIL).ok_or_else(|| {
        CsvError::Header(format!(
            "the users CSV header has no '{EMAIL}' column (found '{}'); the first line must be \
             {EMAIL},{USER_NAME},{PASSWORD}",
            header.iter().collect::<Vec<_>>().join(",")
        ))
    })?;
    Ok(Columns {
        email,
        user_name: found.get(USER_NAME).copied(),
        password: found.get(PASSWORD).copied(),
    })
}

/// Parses the whole file; returns every row, or every problem found.
pub fn parse_users_csv(text: &str) -> Result<Vec<UserRow>, CsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| CsvError::Header(format!("cannot read the users CSV header: {e}")))?
        .clone();
    let cols = header_columns(&header)?;

    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut first_line: HashMap<EmailAddress, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{}: {e}", Where(e.position().map(|p| p.line()))));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() > header.len() {
            problems.push(format!(
                "line {line}: {} fields, but the header has {}",
                record.len(),
                header.len()
            ));
            continue;
        }
        let field = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let Some(raw_email) = field(Some(cols.email)) else {
            problems.push(format!("line {line}: column {EMAIL} is empty"));
            continue;
        };
        let email = match raw_email.parse::<EmailAddress>() {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("line {line}: column {EMAIL}: {e}"));
                continue;
            }
        };
        if let Some(first) = first_line.get(&email) {
            problems.push(format!(
                "line {line}: {email} is listed twice (first on line {first}); keep one row per mailbox"
            ));
            continue;
        }
        first_line.insert(email.clone(), line);
        rows.push(UserRow {
            line,
            email,
            user_name: field(cols.user_name).map(str::to_string),
            // Passwords are taken as written: spaces may be part of them.
            password: cols
                .password
                .and_then(|i| record.get(i))
                .filter(|p| !p.is_empty())
                .map(|p| SecretString::from(p.to_string())),
        });
    }
    if !problems.is_empty() {
        return Err(CsvError::Rows(problems));
    }
    if rows.is_empty() {
        return Err(CsvError::NoUsers);
    }
    Ok(rows)
}

struct Where(Option<u64>);

impl fmt::Display for Where {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(l) => write!(f, "line {l}"),
            None => f.write_str("a line"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn parses_the_exchange_format() {
        let rows = parse_users_csv(
            "EmailAddress,UserName,Password\n\
             Alice@Contoso.test,,\n\
             bob@contoso.test,CONTOSO\\bob,s3cret pw\n\
             \n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].email.as_str(), "alice@contoso.test");
        assert!(rows[0].user_name.is_none() && rows[0].password.is_none());
        assert_eq!(rows[1].user_name.as_deref(), Some("CONTOSO\\bob"));
        assert_eq!(
            rows[1].password.as_ref().unwrap().expose_secret(),
            "s3cret pw"
        );
        assert_eq!(rows[1].line, 3);
    }

    #[test]
    fn email_only_header_and_any_column_order() {
        let rows = parse_users_csv("emailaddress\na@b.test\n").unwrap();
        assert_eq!(rows.len(), 1);
        let rows = parse_users_csv("Password,EmailAddress\nx,a@b.test\n").unwrap();
        assert_eq!(rows[0].password.as_ref().unwrap().expose_secret(), "x");
    }

    #[test]
    fn bad_header_is_named() {
        let e = parse_users_csv("Email,Login\na@b.test,a\n").unwrap_err();
        assert!(e.to_string().contains("unknown column 'Email'"), "{e}");
        let e = parse_users_csv("UserName\na\n").unwrap_err();
        assert!(e.to_string().contains("no 'EmailAddress' column"), "{e}");
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let e = parse_users_csv(
            "EmailAddress,UserName,Password\n\
             a@b.test,,\n\
             not-an-address,,\n\
             A@B.test,,\n\
             ,x,\n",
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("3 problem(s)"), "{s}");
        assert!(s.contains("line 3: column EmailAddress"), "{s}");
        assert!(
            s.contains("line 4: a@b.test is listed twice (first on line 2)"),
            "{s}"
        );
        assert!(s.contains("line 5: column EmailAddress is empty"), "{s}");
    }

    #[test]
    fn empty_file_has_no_users() {
        assert_eq!(
            parse_users_csv("EmailAddress,UserName,Password\n").unwrap_err(),
            CsvError::NoUsers
        );
    }

    #[test]
    fn passwords_do_not_show_in_debug() {
        let rows = parse_users_csv("EmailAddress,Password\na@b.test,hunter2\n").unwrap();
        assert!(!format!("{rows:?}").contains("hunter2"));
    }
}
