//! The webhook sender tested over real HTTP: fake endpoints at the process boundary
//! (`endpoint.rs`), the SSRF guard's refusals (`ssrf.rs`), how an attempt classifies what it got
//! (`attempt.rs`), and every delivery verified by the stock Python verifier (`stock_verifier.rs`).

mod attempt;
mod endpoint;
mod ssrf;
mod stock_verifier;

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nephele_webhooks::{
    Lookup, Message, MessageId, NameResolver, Sender, SenderConfig, SigningKeys, SigningSecret, TargetPolicy,
};

/// A sender for local endpoints: http allowed, private networks as given.
pub fn sender(allow_private_networks: bool) -> Sender {
    sender_with(allow_private_networks, |_| {})
}

pub fn sender_with(allow_private_networks: bool, adjust: impl FnOnce(&mut SenderConfig)) -> Sender {
    let mut config = SenderConfig {
        policy: TargetPolicy { allow_http: true, allow_private_networks },
        ..SenderConfig::default()
    };
    adjust(&mut config);
    Sender::new(config).expect("a sender")
}

pub fn message(id: &str, body: &str) -> Message {
    Message { id: MessageId::parse(id).expect("message id"), body: body.to_owned().into_bytes().into() }
}

pub fn fresh_keys() -> SigningKeys {
    SigningKeys::new(SigningSecret::generate().expect("random source"))
}

/// A resolver with a table of its own, counting its lookups: DNS is the process boundary, and
/// the table lets a test make a name resolve where it needs.
#[derive(Default)]
pub struct TableResolver {
    /// The answers for each name, one per lookup; the last one repeats.
    pub answers: HashMap<String, Vec<Vec<IpAddr>>>,
    pub lookups: AtomicUsize,
}

impl TableResolver {
    pub fn answering(name: &str, answers: Vec<Vec<IpAddr>>) -> Arc<Self> {
        Arc::new(Self { answers: HashMap::from([(name.to_owned(), answers)]), lookups: AtomicUsize::new(0) })
    }

    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl NameResolver for TableResolver {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
        let n = self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers.get(host).map(|answers| answers[n.min(answers.len() - 1)].clone());
        Box::pin(async move { answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name")) })
    }
}

pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

pub const DEADLINE: Duration = Duration::from_secs(10);
