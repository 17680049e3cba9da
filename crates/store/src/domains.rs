//! Accepted domains, MX-switch sightings and how endpoints were discovered, behind their
//! own trait so the main [`crate::Store`] stays about batches and mail.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;

/// A domain the target accepts mail for (Get-AcceptedDomain), with its proof of
/// ownership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedDomain {
    /// Lower case, no trailing dot.
    pub name: String,
    /// The TXT value to publish at the domain (not a secret: it goes into public DNS).
    pub token: String,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
}

/// What `dns check` knows of a domain's MX.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MxCheck {
    pub domain: String,
    /// The target's MX hosts, as given with `--expect-mx`.
    pub expected_mx: Vec<String>,
    /// When MX was first seen pointing only at the expected hosts.
    pub first_switch_at: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    /// The last comparison's result (`Target`, `Source`, `Mixed`, `NoMx`, `Unknown`).
    pub last_state: Option<String>,
}

/// How an endpoint's settings were found (`endpoint new --autodiscover`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointDiscovery {
    pub endpoint: String,
    pub email: String,
    /// The method that found them (`SRV`, `Autoconfig`, `Autodiscover`, `MxGuess`).
    pub method: String,
    pub discovered_at: DateTime<Utc>,
}

#[async_trait]
pub trait DomainStore: Send + Sync {
    /// Adds a domain; fails if it exists.
    async fn add_accepted_domain(&self, domain: &AcceptedDomain) -> Result<()>;
    async fn accepted_domain(&self, name: &str) -> Result<Option<AcceptedDomain>>;
    async fn accepted_domains(&self) -> Result<Vec<AcceptedDomain>>;
    async fn set_domain_verified(&self, name: &str, at: DateTime<Utc>) -> Result<()>;
    async fn remove_accepted_domain(&self, name: &str) -> Result<()>;

    async fn mx_check(&self, domain: &str) -> Result<Option<MxCheck>>;
    /// Saves a check; a first switch time already stored is kept (the first sighting
    /// is what counts), and a `None` never erases it.
    async fn save_mx_check(&self, check: &MxCheck) -> Result<()>;

    /// Records (or replaces) how an existing endpoint was discovered.
    async fn set_endpoint_discovery(&self, d: &EndpointDiscovery) -> Result<()>;
    async fn endpoint_discovery(&self, endpoint: &str) -> Result<Option<EndpointDiscovery>>;
    /// The endpoint no longer uses discovered settings.
    async fn clear_endpoint_discovery(&self, endpoint: &str) -> Result<()>;
}
