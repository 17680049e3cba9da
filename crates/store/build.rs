// sqlx::migrate! embeds the migrations at compile time: a new migration file must
// rebuild the crate (for SQLite and PostgreSQL alike).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
