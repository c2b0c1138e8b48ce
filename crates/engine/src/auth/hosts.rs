//! Which host names the server answers for: its defence against DNS rebinding. (The HTTP
//! layer applies [`AllowedHosts`] to every request.)
//!
//! A web page on another site can make a visitor's browser send requests to a name that the
//! attacker then points at 127.0.0.1 (or any address the visitor reaches). The browser sends the
//! attacker's name in `Host`; nothing else about the request is unusual. While the API runs open
//! (no keys: demo mode or `auth.required: false`) such a page could drive it, so requests whose
//! `Host` is not an allowed name are refused (400 `host_not_allowed`) before any route runs.
//!
//! Allowed by default: `localhost`, `127.0.0.1` and `[::1]` on any port, and the address in
//! `server.listen` when it names one. `server.allowed_hosts` replaces that list (`*` allows any
//! name); set, it is checked whether or not keys are required. With keys required and no list,
//! no check is made: a page cannot send the visitor's key, so a rebound request gets only 401.
//! A request with no `Host` at all did not come from a browser and is let through.

use std::net::SocketAddr;

/// One allowed name, with or without its port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    /// Lower case; an IPv6 address in brackets, as `Host` writes it.
    host: String,
    /// `None`: any port.
    port: Option<u16>,
}

/// The names requests may be addressed to.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    allowed: Vec<Allowed>,
}

/// Splits `host[:port]` (the form of `Host` and of `server.allowed_hosts` entries); `None` when it
/// is not of that form.
fn split(value: &str) -> Option<Allowed> {
    let value = value.trim();
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?.parse().ok()?),
        };
        (format!("[{inside}]"), port)
    } else {
        match value.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port.parse().ok()?)),
            None => (value.to_owned(), None),
        }
    };
    let well_formed = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_[]:".contains(&b));
    well_formed.then(|| Allowed { host: host.to_ascii_lowercase(), port })
}

impl AllowedHosts {
    /// The check for a server listening on `listen`: `configured` when set (`*` in it turns the
    /// check off), else the loopback names and the listen address when the API runs open, else
    /// none. Fails naming the first entry that is not a host name with an optional port.
    pub fn new(
        configured: Option<&[String]>,
        listen: &str,
        auth_required: bool,
    ) -> Result<Option<Self>, String> {
        let Some(entries) = configured else {
            if auth_required {
                return Ok(None);
            }
            let mut allowed: Vec<Allowed> = ["localhost", "127.0.0.1", "[::1]"]
                .iter()
                .map(|host| Allowed { host: (*host).to_owned(), port: None })
                .collect();
            if let Ok(address) = listen.parse::<SocketAddr>()
                && !address.ip().is_unspecified()
            {
                let host = match address {
                    SocketAddr::V4(v4) => v4.ip().to_string(),
                    SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
                };
                allowed.push(Allowed { host, port: None });
            }
            return Ok(Some(Self { allowed }));
        };
        if entries.iter().any(|e| e.trim() == "*") {
            return Ok(None);
        }
        let allowed = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                split(entry)
                    .ok_or_else(|| format!("entry {} is not a host name with an optional port", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Self { allowed }))
    }

    /// Whether a request addressed to `host` (a `Host` header's value) is answered.
    pub fn allows(&self, host: &str) -> bool {
        let Some(asked) = split(host) else { return false };
        self.allowed.iter().any(|a| a.host == asked.host && a.port.is_none_or(|p| asked.port == Some(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(listen: &str) -> AllowedHosts {
        AllowedHosts::new(None, listen, false).expect("valid").expect("checked when open")
    }

    #[test]
    fn an_open_server_answers_loopback_names_and_its_own_address_on_any_port() {
        let hosts = open("192.168.1.5:8080");
        for host in ["localhost", "LOCALHOST:8080", "127.0.0.1:1", "[::1]:8080", "[::1]", "192.168.1.5:8080"]
        {
            assert!(hosts.allows(host), "{host}");
        }
        for host in ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost:x", "", "[::1"]
        {
            assert!(!hosts.allows(host), "{host}");
        }
        assert!(!open("0.0.0.0:8080").allows("0.0.0.0:8080"), "an unspecified address is no name");
    }

    #[test]
    fn a_configured_list_replaces_the_defaults_and_is_checked_with_keys_too() {
        let list = ["nephele.internal".to_owned(), "10.0.0.7:9000".to_owned()];
        let hosts = AllowedHosts::new(Some(&list), "127.0.0.1:8080", true).expect("valid").expect("checked");
        assert!(hosts.allows("Nephele.Internal:443"));
        assert!(hosts.allows("10.0.0.7:9000"));
        assert!(!hosts.allows("10.0.0.7:9001"));
        assert!(!hosts.allows("localhost"));
        assert!(AllowedHosts::new(None, "127.0.0.1:8080", true).expect("valid").is_none(), "keys: no check");
        assert!(
            AllowedHosts::new(Some(&["*".to_owned()]), "127.0.0.1:8080", false).expect("valid").is_none()
        );
        assert!(AllowedHosts::new(Some(&["a b".to_owned()]), "127.0.0.1:8080", false).is_err());
    }
}
