//! The target organization's directory (`target set --directory`): what it holds now,
//! read for preflight with the same settings type, bind and reader as a source
//! directory. Provisioning writes into it with [`crate::writer`], binding the same way
//! ([`crate::reader`]'s `bind`).

use cutover_model::SourceDirectory;
use secrecy::SecretString;

use crate::attributes::Field;
use crate::error::DirectoryError;
use crate::preflight::TargetFacts;
use crate::reader::DirectoryReader;

/// Every recipient the target's directory holds, and whether its profile tells
/// security groups apart (a group-type attribute is read).
pub async fn read_target(
    settings: &SourceDirectory,
    password: &SecretString,
) -> Result<TargetFacts, DirectoryError> {
    let mut reader = DirectoryReader::connect(settings, password).await?;
    let recipients = reader.recipients().await?;
    let tells_security_groups = !reader.names().of(Field::GroupType).is_empty();
    reader.unbind().await;
    Ok(TargetFacts {
        recipients,
        tells_security_groups,
    })
}
