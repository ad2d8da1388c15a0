//! Rebuilds the agencies when a migration is added or changed: `sqlx::migrate!` embeds the
//! migrations at compile time, and Cargo does not otherwise know it read them.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
