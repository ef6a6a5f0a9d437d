//! Which of this host's addresses other hosts reach it at, and host names in join
//! addresses. A UDP socket that is `connect`ed sends nothing, but the kernel picks the
//! route and with it the local address: that is how a node learns the address of its
//! route to the head, or of its default route, without asking anyone.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};

use super::TransportError;

/// The local address of this host's route to `to`, if it has one.
///
/// # Examples
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// let to = "127.0.0.1:9".parse().unwrap();
/// assert_eq!(ray::transport::route_source(to), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
/// ```
pub fn route_source(to: SocketAddr) -> Option<IpAddr> {
    let any = match to {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(any).ok()?;
    socket.connect(to).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// The address of the interface of this host's default route (IPv4, else IPv6), if it
/// has one. Nothing is sent: the addresses below only pick a route.
///
/// # Examples
/// ```
/// if let Some(ip) = ray::transport::default_route_ip() {
///     assert!(!ip.is_unspecified());
/// }
/// ```
pub fn default_route_ip() -> Option<IpAddr> {
    // Public resolvers' addresses, used only to select the default route.
    let v4 = SocketAddr::from((Ipv4Addr::new(8, 8, 8, 8), 53));
    let v6 = SocketAddr::from((
        Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888),
        53,
    ));
    route_source(v4).or_else(|| route_source(v6))
}

/// Checks that `ip` is an address of this host (one a socket can be bound to).
///
/// # Errors
/// [`TransportError::Io`] naming the address otherwise.
///
/// # Examples
/// ```
/// assert!(ray::transport::check_local("127.0.0.1".parse().unwrap()).is_ok());
/// assert!(ray::transport::check_local("203.0.113.77".parse().unwrap()).is_err());
/// ```
pub fn check_local(ip: IpAddr) -> Result<(), TransportError> {
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(TransportError::Io(format!(
            "{ip} cannot be a node's address: give the address of one of this host's interfaces"
        )));
    }
    UdpSocket::bind(SocketAddr::new(ip, 0))
        .map(drop)
        .map_err(|e| {
            TransportError::Io(format!(
                "{ip} is not an address of this host ({e}): give the address of one of its interfaces"
            ))
        })
}

/// Resolves `HOST:PORT`: an IPv4 or bracketed IPv6 address (`[::1]:6379`), or a host
/// name, looked up once (the first address it resolves to).
///
/// # Errors
/// [`TransportError::BadAddress`] naming `host_port` when it has no port or does not
/// resolve.
///
/// # Examples
/// ```
/// let a = ray::transport::resolve("[::1]:6379").unwrap();
/// assert!(a.is_ipv6() && a.port() == 6379);
/// assert_eq!(ray::transport::resolve("localhost:7").unwrap().port(), 7);
/// assert!(ray::transport::resolve("no-such-host.invalid:7").is_err());
/// ```
pub fn resolve(host_port: &str) -> Result<SocketAddr, TransportError> {
    if let Ok(addr) = host_port.parse() {
        return Ok(addr);
    }
    let bad = |why: String| TransportError::BadAddress(format!("`{host_port}`: {why}"));
    let mut found = host_port
        .to_socket_addrs()
        .map_err(|e| bad(format!("does not resolve ({e})")))?;
    found
        .next()
        .ok_or_else(|| bad("resolves to no address".into()))
}
