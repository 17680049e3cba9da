//! Which LDAP attributes hold each field of a recipient: the two profiles' names, and
//! the admin's overrides (`--directory-attribute aliases=otherMailbox`).

use std::collections::BTreeMap;

use cutover_model::DirectoryProfile;

/// Values of one attribute AD returns per read (its MaxValRange).
pub const MEMBER_RANGE_STEP: u64 = 1500;

/// A field of a recipient read from the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// The primary address when no proxy address says `SMTP:`.
    Mail,
    /// Exchange's `SMTP:primary` / `smtp:alias` list.
    ProxyAddresses,
    /// Plain extra addresses (OpenLDAP's `mailAlternateAddress`).
    Aliases,
    Upn,
    DisplayName,
    /// Group members (DNs).
    Member,
    Manager,
    Delegates,
    RecipientTypeDetails,
    /// Any non-empty, non-zero value means Unified Messaging is on.
    UmEnabled,
    HiddenFromAddressLists,
    /// AD's groupType; its bit 0x80000000 marks a security group.
    GroupType,
    /// Where mail for a mail user or contact goes (AD's `targetAddress`).
    TargetAddress,
    /// The login of an OpenLDAP person; an inetOrgPerson without one is a contact.
    Login,
}

impl Field {
    pub const ALL: [Field; 14] = [
        Field::Mail,
        Field::ProxyAddresses,
        Field::Aliases,
        Field::Upn,
        Field::DisplayName,
        Field::Member,
        Field::Manager,
        Field::Delegates,
        Field::RecipientTypeDetails,
        Field::UmEnabled,
        Field::HiddenFromAddressLists,
        Field::GroupType,
        Field::TargetAddress,
        Field::Login,
    ];

    /// The name the admin uses in `--directory-attribute NAME=ATTR`.
    pub fn name(self) -> &'static str {
        match self {
            Field::Mail => "mail",
            Field::ProxyAddresses => "proxy-addresses",
            Field::Aliases => "aliases",
            Field::Upn => "upn",
            Field::DisplayName => "display-name",
            Field::Member => "member",
            Field::Manager => "manager",
            Field::Delegates => "delegates",
            Field::RecipientTypeDetails => "recipient-type-details",
            Field::UmEnabled => "um-enabled",
            Field::HiddenFromAddressLists => "hidden-from-address-lists",
            Field::GroupType => "group-type",
            Field::TargetAddress => "target-address",
            Field::Login => "login",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The profile's attributes for this field, in the order they are read.
    fn defaults(self, profile: DirectoryProfile) -> &'static [&'static str] {
        use DirectoryProfile::*;
        match (self, profile) {
            (Field::Mail, _) => &["mail"],
            (Field::ProxyAddresses, ActiveDirectory) => &["proxyAddresses"],
            (Field::ProxyAddresses, OpenLdap) => &[],
            (Field::Aliases, ActiveDirectory) => &[],
            (Field::Aliases, OpenLdap) => &["mailAlternateAddress"],
            (Field::Upn, ActiveDirectory) => &["userPrincipalName"],
            (Field::Upn, OpenLdap) => &["uid"],
            (Field::DisplayName, _) => &["displayName", "cn"],
            (Field::Member, _) => &["member"],
            (Field::Manager, _) => &["manager"],
            (Field::Delegates, ActiveDirectory) => &["publicDelegates", "msExchDelegateListLink"],
            (Field::Delegates, OpenLdap) => &[],
            (Field::RecipientTypeDetails, ActiveDirectory) => &["msExchRecipientTypeDetails"],
            (Field::UmEnabled, ActiveDirectory) => {
                &["msExchUMEnabledFlags", "msExchUMRecipientDialPlanLink"]
            }
            (Field::HiddenFromAddressLists, ActiveDirectory) => &["msExchHideFromAddressLists"],
            (Field::GroupType, ActiveDirectory) => &["groupType"],
            (Field::TargetAddress, ActiveDirectory) => &["targetAddress"],
            (Field::Login, ActiveDirectory) => &["sAMAccountName"],
            (Field::Login, OpenLdap) => &["uid"],
            (
                Field::RecipientTypeDetails
                | Field::UmEnabled
                | Field::HiddenFromAddressLists
                | Field::GroupType
                | Field::TargetAddress,
                OpenLdap,
            ) => &[],
        }
    }
}

/// The attribute names in use: a profile with the admin's overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeNames {
    pub profile: DirectoryProfile,
    names: BTreeMap<Field, Vec<String>>,
}

impl AttributeNames {
    /// The profile's names, each override (`field` -> `attr1,attr2`, empty: not read)
    /// replacing a field's. An unknown field is an error naming the known ones.
    pub fn new(
        profile: DirectoryProfile,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let mut names: BTreeMap<Field, Vec<String>> = Field::ALL
            .into_iter()
            .map(|f| {
                (
                    f,
                    f.defaults(profile).iter().map(|a| a.to_string()).collect(),
                )
            })
            .collect();
        for (field, attrs) in overrides {
            let f = Field::from_name(field).ok_or_else(|| unknown_field(field))?;
            names.insert(f, split_attributes(attrs));
        }
        Ok(Self { profile, names })
    }

    /// The attributes read for a field, in order.
    pub fn of(&self, field: Field) -> &[String] {
        self.names.get(&field).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every attribute a search asks for: the fields' and `objectClass`. With Active
    /// Directory the members are asked for by range (`member;range=0-1499`), as AD
    /// returns at most 1,500 values per read anyway: the answer then says whether more
    /// are to be read, from AD and from servers (Samba) that would send them all.
    pub fn requested(&self) -> Vec<String> {
        let ranged = self.of(Field::Member);
        let mut all: Vec<String> = vec!["objectClass".into()];
        for attrs in self.names.values() {
            for a in attrs {
                let a = if self.profile == DirectoryProfile::ActiveDirectory && ranged.contains(a) {
                    format!("{a};range=0-{}", MEMBER_RANGE_STEP - 1)
                } else {
                    a.clone()
                };
                if !all.iter().any(|x| x.eq_ignore_ascii_case(&a)) {
                    all.push(a);
                }
            }
        }
        all
    }

    /// The search filter for the profile's recipient objects.
    pub fn filter(&self) -> &'static str {
        match self.profile {
            DirectoryProfile::ActiveDirectory => {
                "(&(|(objectClass=user)(objectClass=contact)(objectClass=group))(!(objectClass=computer)))"
            }
            DirectoryProfile::OpenLdap => {
                "(|(objectClass=inetOrgPerson)(objectClass=groupOfNames))"
            }
        }
    }
}

/// Parses `--directory-attribute NAME=ATTR[,ATTR...]` into its field name and value.
pub fn parse_override(arg: &str) -> Result<(String, String), String> {
    let (field, attrs) = arg.split_once('=').ok_or_else(|| {
        format!("--directory-attribute {arg}: expected NAME=ATTR (e.g. aliases=otherMailbox)")
    })?;
    let f = Field::from_name(field).ok_or_else(|| unknown_field(field))?;
    Ok((f.name().to_string(), split_attributes(attrs).join(",")))
}

fn split_attributes(attrs: &str) -> Vec<String> {
    attrs
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

fn unknown_field(field: &str) -> String {
    let known: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
    format!(
        "unknown directory attribute name '{field}'; known: {}",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_a_profile_name() {
        let mut o = BTreeMap::new();
        o.insert("aliases".to_string(), "otherMailbox, mailAlias".to_string());
        o.insert("delegates".to_string(), String::new());
        let names = AttributeNames::new(DirectoryProfile::ActiveDirectory, &o).unwrap();
        assert_eq!(names.of(Field::Aliases), ["otherMailbox", "mailAlias"]);
        assert!(names.of(Field::Delegates).is_empty());
        assert_eq!(names.of(Field::Mail), ["mail"]);
        assert!(names.requested().contains(&"otherMailbox".to_string()));
        assert!(!names.requested().contains(&"publicDelegates".to_string()));
        assert!(
            names
                .requested()
                .contains(&"member;range=0-1499".to_string())
        );
        let openldap = AttributeNames::new(DirectoryProfile::OpenLdap, &BTreeMap::new()).unwrap();
        assert!(openldap.requested().contains(&"member".to_string()));
    }

    #[test]
    fn unknown_names_are_refused_with_the_known_ones() {
        let mut o = BTreeMap::new();
        o.insert("email".to_string(), "mail".to_string());
        let err = AttributeNames::new(DirectoryProfile::OpenLdap, &o).unwrap_err();
        assert!(
            err.contains("'email'") && err.contains("proxy-addresses"),
            "{err}"
        );
        assert_eq!(
            parse_override("Aliases=otherMailbox").unwrap(),
            ("aliases".to_string(), "otherMailbox".to_string())
        );
        assert!(parse_override("aliases").is_err());
    }
}
