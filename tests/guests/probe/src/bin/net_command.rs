//! A command that uses std networking (TCP, UDP and DNS), so it imports `wasi:sockets`, which
//! WTB never links: it must be refused before it runs.
use std::net::ToSocketAddrs as _;

fn main() {
    let tcp = std::net::TcpStream::connect("127.0.0.1:80").is_ok();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.send_to(b"x", "127.0.0.1:53")).is_ok();
    let dns = ("example.com", 80).to_socket_addrs().is_ok();
    println!("{tcp} {udp} {dns}");
}
