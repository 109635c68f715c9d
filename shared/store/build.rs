// The migrations are embedded at compile time (refinery's embed_migrations!):
// a new or changed SQL file must rebuild this crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
