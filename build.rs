//! The migrations are embedded into the binary by `sqlx::migrate!`, which cargo does not know
//! reads `migrations/`: without this, a migration added or edited is left out until some Rust
//! source changes (sqlx's own advice, `sqlx migrate build-script`).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
