//! The contract between Nephele and its provider plugins.
//!
//! - [`wire`]: the gRPC service and messages compiled from `proto/nephele/provider/v1/provider.proto`.
//! - [`handshake`]: how a host starts a plugin and learns where it listens (go-plugin's style).
//! - [`convert`]: `nephele-core` values to messages and back; whatever arrives is checked, since
//!   neither side trusts the other's bytes.
//! - [`limits`]: how long each string and list in a message may be, so a plugin's answer costs
//!   the host a bounded amount of memory field by field, not only message by message.
//! - [`documents`]: resources beyond instances as JSON documents, bounded and checked.
//! - [`failure`]: [`nephele_core::ProviderError`] as a gRPC status and back, kinds intact.
//!
//! Both the host (`nephele-server`) and the plugin side (`nephele-plugin-sdk`) build on this crate,
//! so the two can never disagree about a field.

pub mod convert;
pub mod documents;
pub mod failure;
pub mod handshake;
pub mod limits;

/// The generated protocol types, client and server.
#[allow(clippy::all, clippy::unwrap_used, missing_docs)]
pub mod wire {
    tonic::include_proto!("nephele.provider.v1");
}

/// Most instances one streamed page carries.
pub const MAX_INSTANCES_PER_PAGE: usize = 1000;

/// Largest message either side decodes (a page of 1,000 instances is about 250 KB).
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
