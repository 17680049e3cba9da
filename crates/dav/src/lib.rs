//! Calendars, contacts and tasks over CalDAV (RFC 4791) and CardDAV (RFC 6352).
//!
//! A user's DAV pass is observe -> plan -> apply, as the mail pass is: [`observe`] reads
//! both servers (collections with their properties, items with href and ETag; RFC 6578
//! sync-collection where the source has a token) and the ledger into plain [`facts`];
//! [`plan`] is one pure function from those facts to typed steps; [`apply`] is the only
//! writer (MKCALENDAR / extended MKCOL, PUT with `If-None-Match: *` or `If-Match`,
//! DELETE with `If-Match`), with an intent in the store before each PUT and a record
//! after it. [`client`] is the HTTP edge: libdav over hyper and rustls. [`item`] reads an
//! item's UID with calcard; the bytes copied are never rewritten. [`job`] is what the
//! scheduler's `dav-pass` job takes from here: accounts from the stored settings and the
//! users CSV, and a pass's result as an attempt of its decision table.

pub mod apply;
pub mod client;
pub mod facts;
pub mod item;
pub mod job;
pub mod observe;
pub mod pass;
pub mod plan;
