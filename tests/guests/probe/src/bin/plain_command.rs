//! A plain WASI command: a valid component that does not implement the `wtb:node` world.
fn main() {
    println!("I am not a node");
}
