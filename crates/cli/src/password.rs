//! Reading a password from where the admin put it: an environment variable, a file,
//! or a prompt on a terminal. Never from a command-line argument.

use std::io::IsTerminal;

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::args::PasswordArgs;

/// The password the arguments point to, or a prompt when none is given and stdin is
/// a terminal. `Ok(None)` when nothing was given and nobody can be asked.
pub fn read(args: &PasswordArgs, prompt: &str) -> anyhow::Result<Option<SecretString>> {
    if let Some(var) = &args.password_env {
        let value = std::env::var(var).with_context(|| {
            format!("--password-env {var}: the environment variable {var} is not set")
        })?;
        if value.is_empty() {
            bail!("--password-env {var}: the environment variable {var} is empty");
        }
        return Ok(Some(SecretString::from(value)));
    }
    if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--password-file {}: cannot read it", path.display()))?;
        let line = text.lines().next().unwrap_or("").to_string();
        if line.is_empty() {
            bail!(
                "--password-file {}: the first line is empty",
                path.display()
            );
        }
        return Ok(Some(SecretString::from(line)));
    }
    if std::io::stdin().is_terminal() {
        let value = rpassword::prompt_password(prompt).context("cannot read the password")?;
        return Ok(Some(SecretString::from(value)));
    }
    Ok(None)
}

/// Like [`read`], but a password is required.
pub fn require(args: &PasswordArgs, prompt: &str) -> anyhow::Result<SecretString> {
    read(args, prompt)?.ok_or_else(|| {
        anyhow::anyhow!(
            "a password is needed: give --password-env VAR or --password-file FILE \
             (passwords are never taken as plain arguments)"
        )
    })
}
