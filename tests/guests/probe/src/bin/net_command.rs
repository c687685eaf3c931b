//! A command that uses std networking, so it imports `wasi:sockets`, which WTB never links:
//! it must be refused before it runs.
fn main() {
    let r = std::net::TcpStream::connect("127.0.0.1:80");
    println!("{}", r.is_ok());
}
