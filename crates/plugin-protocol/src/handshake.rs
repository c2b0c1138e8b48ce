//! The start of a plugin's life, in HashiCorp go-plugin's style.
//!
//! The host starts the plugin with [`MAGIC_COOKIE_KEY`]=[`MAGIC_COOKIE_VALUE`],
//! [`PROTOCOL_VERSIONS_KEY`] (the app protocol versions it speaks, comma separated) and
//! [`SOCKET_DIR_KEY`] (a fresh directory only the host's user can enter) in its environment and
//! stdin a pipe. The plugin checks the cookie (a program run by hand, not by a host, says so and
//! exits), picks a version, listens on a Unix socket it creates in that directory and prints one
//! line on stdout:
//!
//! ```text
//! 1|1|unix|/tmp/nephele-plugin-x1y2/plugin.sock|grpc
//! ```
//!
//! (`CORE-VERSION|APP-PROTOCOL-VERSION|NETWORK|ADDRESS|PROTOCOL`). A host refuses a socket outside
//! the directory it gave, or one served by another process than the one it started. The plugin
//! exits when its stdin closes; a host also asks the kernel to kill it when the host dies, so
//! one killed with `kill -9` leaves no plugin behind.

use std::fmt;
use std::path::PathBuf;

/// Environment variable naming the cookie; its value proves a host started the program.
pub const MAGIC_COOKIE_KEY: &str = "NEPHELE_PLUGIN_MAGIC_COOKIE";
/// Not a secret: it only keeps a user from starting a plugin by hand by mistake.
pub const MAGIC_COOKIE_VALUE: &str = "4f1c9e5b2d7a46c8a3e0b6d9f2c1e8a7";
/// Environment variable with the app protocol versions the host speaks (`1` or `1,2`).
pub const PROTOCOL_VERSIONS_KEY: &str = "NEPHELE_PLUGIN_PROTOCOL_VERSIONS";
/// Environment variable naming the directory the plugin must create its socket in: made fresh
/// by the host for each start, only its user may enter it, and the host removes it afterwards.
/// A host that does not set it (before it was added) leaves the plugin to make its own
/// (`mkdtemp`).
pub const SOCKET_DIR_KEY: &str = "NEPHELE_PLUGIN_SOCKET_DIR";
/// The version of the handshake itself.
pub const CORE_VERSION: u32 = 1;
/// The version of `nephele.provider.v1`.
pub const APP_PROTOCOL_VERSION: u32 = 1;
/// Longest handshake line read; anything longer is garbage.
pub const MAX_LINE_BYTES: usize = 4096;

/// What the plugin's handshake line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub core_version: u32,
    pub app_protocol_version: u32,
    pub socket: PathBuf,
}

impl fmt::Display for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}|unix|{}|grpc", self.core_version, self.app_protocol_version, self.socket.display())
    }
}

/// Why a handshake line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not five `|`-separated fields, or a field that is not what it must be.
    Malformed(String),
    /// A core version this host does not speak.
    UnsupportedCore(u32),
    /// An app protocol version the host did not offer.
    UnsupportedProtocol(u32),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed handshake line: {why}"),
            Self::UnsupportedCore(v) => {
                write!(f, "handshake core version {v} is not supported (this host speaks {CORE_VERSION})")
            }
            Self::UnsupportedProtocol(v) => write!(
                f,
                "plugin protocol version {v} is not supported (this host speaks {APP_PROTOCOL_VERSION})"
            ),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl Handshake {
    /// Reads a handshake line, accepting only versions in `protocols`.
    pub fn parse(line: &str, protocols: &[u32]) -> Result<Self, HandshakeError> {
        let line = line.trim_end_matches(['\r', '\n']);
        let shown: String = line.chars().take(80).collect();
        let fields: Vec<&str> = line.split('|').collect();
        let [core, app, network, address, protocol] = fields[..] else {
            return Err(HandshakeError::Malformed(format!(
                "expected CORE-VERSION|APP-PROTOCOL-VERSION|unix|SOCKET-PATH|grpc, got {shown:?}"
            )));
        };
        let number = |field: &str, what: &str| {
            field
                .parse::<u32>()
                .map_err(|_| HandshakeError::Malformed(format!("{what} {field:?} is not a number")))
        };
        let core_version = number(core, "core version")?;
        if core_version != CORE_VERSION {
            return Err(HandshakeError::UnsupportedCore(core_version));
        }
        let app_protocol_version = number(app, "protocol version")?;
        if !protocols.contains(&app_protocol_version) {
            return Err(HandshakeError::UnsupportedProtocol(app_protocol_version));
        }
        if network != "unix" {
            return Err(HandshakeError::Malformed(format!("network must be unix, got {network:?}")));
        }
        if protocol != "grpc" {
            return Err(HandshakeError::Malformed(format!("protocol must be grpc, got {protocol:?}")));
        }
        if !address.starts_with('/') {
            return Err(HandshakeError::Malformed(format!("socket path must be absolute, got {address:?}")));
        }
        Ok(Self { core_version, app_protocol_version, socket: PathBuf::from(address) })
    }
}

/// The versions in a [`PROTOCOL_VERSIONS_KEY`] value; unreadable entries are skipped.
pub fn offered_versions(value: &str) -> Vec<u32> {
    value.split(',').filter_map(|v| v.trim().parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handshake_line_round_trips() {
        let line =
            Handshake { core_version: 1, app_protocol_version: 1, socket: "/tmp/p/plugin.sock".into() };
        assert_eq!(line.to_string(), "1|1|unix|/tmp/p/plugin.sock|grpc");
        assert_eq!(Handshake::parse(&format!("{line}\n"), &[1]), Ok(line));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(matches!(Handshake::parse("hello world", &[1]), Err(HandshakeError::Malformed(_))));
        assert_eq!(Handshake::parse("2|1|unix|/s|grpc", &[1]), Err(HandshakeError::UnsupportedCore(2)));
        assert_eq!(Handshake::parse("1|7|unix|/s|grpc", &[1]), Err(HandshakeError::UnsupportedProtocol(7)));
        assert!(matches!(
            Handshake::parse("1|1|tcp|127.0.0.1:1|grpc", &[1]),
            Err(HandshakeError::Malformed(_))
        ));
        assert!(matches!(
            Handshake::parse("1|1|unix|rel.sock|grpc", &[1]),
            Err(HandshakeError::Malformed(_))
        ));
        assert!(matches!(Handshake::parse("1|1|unix|/s|netrpc", &[1]), Err(HandshakeError::Malformed(_))));
        assert_eq!(offered_versions("1, 2,x"), vec![1, 2]);
    }
}
