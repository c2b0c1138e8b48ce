//! Where host names become addresses: the operating system's resolver in service, a table of a
//! test's own in tests (DNS is the process boundary).
//!
//! A resolver only answers; it never decides whether an address may be reached. That is the
//! guard's job (`guard.rs`), which also bounds how long a lookup may take.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;

/// What a lookup returns: every address the name has, or the resolver's failure.
pub type Lookup<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Turns a host name into addresses.
pub trait NameResolver: Send + Sync + 'static {
    /// Every address `host` has (IPv4 and IPv6). `host` is never an IP literal.
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a>;
}

/// The operating system's resolver (`getaddrinfo` on a blocking thread, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl NameResolver for SystemResolver {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            let addresses = tokio::net::lookup_host((host, 0)).await?;
            Ok(addresses.map(|socket| socket.ip()).collect())
        })
    }
}
