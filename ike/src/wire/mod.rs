//! The IKEv2 message codec (RFC 7296, RFC 5282, RFC 7383): strict,
//! panic-free decoding and encoding of IKE messages. No I/O, no crypto.
//!
//! * [`Message::decode`] / [`Message::encode`]: a whole datagram (without the
//!   port-4500 non-ESP marker: see [`classify_natt`] / [`with_non_esp_marker`]).
//! * [`Header`], [`Payload`] and one type per payload body ([`SaPayload`],
//!   [`KePayload`], [`NoncePayload`], [`IdPayload`], [`AuthPayload`],
//!   [`NotifyPayload`], [`DeletePayload`], [`TsPayload`], [`CertPayload`],
//!   [`CpPayload`], [`SkPayload`], [`SkfPayload`]).
//! * [`decode_chain`] / [`encode_chain`]: a bare payload chain, as inside SK.
//! * [`SealFrame`] / [`EncryptedView`]: the AAD and IV||ciphertext||ICV
//!   regions of SK/SKF messages for the crypto engine; [`pad_plaintext`],
//!   [`unpad_plaintext`]; [`Reassembler`] for RFC 7383 fragments.
//! * IANA registries as unknown-preserving newtypes ([`PayloadType`],
//!   [`NotifyType`], [`DhGroup`], ...).
//!
//! Errors are [`WireError`]: each rejection reason is its own variant.
//!
//! ```
//! use ike::wire::*;
//!
//! let mut req = Message::new(Header::new(0x1234, 0, ExchangeType::IKE_SA_INIT, Flags::INITIATOR, 0));
//! req.payloads.push(Payload::Sa(SaPayload {
//!     proposals: vec![Proposal::new(1, ProtocolId::IKE, vec![
//!         Transform::encr(EncrId::AES_GCM_16, Some(256)),
//!         Transform::prf(PrfId::HMAC_SHA2_256),
//!         Transform::dh(DhGroup::CURVE25519),
//!     ])],
//! }));
//! req.payloads.push(Payload::Ke(KePayload { group: DhGroup::CURVE25519, data: vec![9; 32] }));
//! req.payloads.push(Payload::Nonce(NoncePayload { nonce: vec![7; 32] }));
//! req.payloads.push(Payload::Notify(NotifyPayload::new(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED, vec![])));
//! let datagram = with_non_esp_marker(&req.encode()?); // port 4500
//!
//! let NattDatagram::Ike(ike) = classify_natt(&datagram)? else { unreachable!() };
//! let got = Message::decode(ike)?;
//! assert_eq!(got.payloads, req.payloads);
//! assert!(got.notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some());
//! # Ok::<(), WireError>(())
//! ```

// Nothing in the codec may panic on input: no indexing, unwrap or expect
// outside tests (the fuzz target and the prefix/mutation tests check it).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo
    )
)]

#[macro_use]
mod macros;

mod auth;
mod constants;
mod delete;
mod error;
mod fragment;
mod header;
mod id;
mod ke;
mod message;
mod natt;
mod nonce;
mod notify;
mod notify_type;
mod payload;
mod raw;
mod reader;
mod sa;
mod sk;
mod transform_ids;
mod ts;

pub use auth::AuthPayload;
pub use constants::{
    AuthMethod, CertEncoding, CfgType, ExchangeType, IdType, PayloadType, ProtocolId, TsType,
};
pub use delete::DeletePayload;
pub use error::{Result, WireError};
pub use fragment::{
    split_for_fragments, AddOutcome, OutgoingFragment, Reassembler, ReassemblyError,
    ReassemblyLimits,
};
pub use header::{Flags, Header, HEADER_LEN, IKE_MAJOR_VERSION};
pub use id::{IdPayload, Identity};
pub use ke::KePayload;
pub use message::Message;
pub use natt::{classify_natt, with_non_esp_marker, NattDatagram, NAT_KEEPALIVE, NON_ESP_MARKER};
pub use nonce::{NoncePayload, NONCE_MAX_LEN, NONCE_MIN_LEN};
pub use notify::NotifyPayload;
pub use notify_type::NotifyType;
pub use payload::{decode_chain, encode_chain, encode_chain_into, Payload, GENERIC_HEADER_LEN};
pub use raw::{CertPayload, CpPayload};
pub use sa::{Attribute, Proposal, SaPayload, Transform};
pub use sk::{
    pad_plaintext, unpad_plaintext, EncryptedView, FragmentInfo, SealFrame, SkPayload, SkfPayload,
    SKF_FIELDS_LEN,
};
pub use transform_ids::{AttributeType, DhGroup, EncrId, EsnId, IntegId, PrfId, TransformType};
pub use ts::{Cidr, TrafficSelector, TsPayload, TsRange};
