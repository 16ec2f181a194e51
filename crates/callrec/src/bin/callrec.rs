fn main() {
    println!("callrec: not yet wired");
}
