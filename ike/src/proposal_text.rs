//! Proposal lists written as strongSwan's `ike=`/`esp=` (`ike_proposals`,
//! `esp_proposals`) write them, for settings that restrict what is offered
//! and accepted.
//!
//! A list is proposals separated by `,`, in preference order; a proposal
//! is algorithm names separated by `-` (libreswan's `;` before the groups
//! is taken as one more `-`). Every combination of the algorithms of one
//! proposal is acceptable, as in [`IkeProposal`]/[`EspProposal`]. Only
//! what this crate runs is accepted; any other name is an error naming it.
//!
//! | kind | names |
//! |---|---|
//! | encryption | `aes128gcm16` `aes256gcm16` (also `aes128gcm128`, `aes256gcm128`, libreswan's `aes_gcm128`, `aes_gcm256`), `aes128` `aes256` (CBC) |
//! | integrity | `sha256` `sha384` `sha512` (also `sha2_256`, `sha2_384`, `sha2_512`): HMAC-SHA2 truncated to half (RFC 4868) |
//! | PRF (IKE only) | `prfsha256` `prfsha384` `prfsha512` |
//! | DH group | `ecp256` `ecp384` `ecp521` `curve25519` (`x25519`) `modp2048` `modp3072` `modp4096` (also `dh19` `dh20` `dh21` `dh31` `dh14` `dh15` `dh16`) |
//! | ESN (ESP only) | `esn` `noesn` |
//!
//! As in strongSwan, an IKE proposal without a PRF uses its integrity
//! algorithms as PRFs (`aes256-sha256-modp2048`); an AES-CBC cipher needs
//! an integrity algorithm; an IKE proposal needs a group. A group in an
//! ESP proposal is its PFS group for CREATE_CHILD_SA (see
//! [`EspProposal::dh`]). An ESP proposal without `esn`/`noesn` keeps the
//! default (ESN, then no ESN). A trailing `!` (strongSwan's "strict") is
//! allowed and changes nothing: these lists are always strict.

use crate::config::{EspProposal, IkeProposal};
use crate::crypto::{DhGroup, Encr, Integ, Prf};

/// Why a proposal list was refused; its `Display` is one line naming the
/// offending name or proposal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalTextError {
    /// A name that is not an algorithm this crate runs.
    #[error("unknown or unsupported algorithm {token:?} in {kind} proposal {proposal:?} (supported: {supported})")]
    Unsupported {
        /// The name.
        token: String,
        /// `IKE` or `ESP`.
        kind: &'static str,
        /// The proposal holding it.
        proposal: String,
        /// What is accepted there.
        supported: &'static str,
    },
    /// A proposal that lacks an algorithm type it needs.
    #[error("{kind} proposal {proposal:?} has no {what}")]
    Incomplete {
        /// `IKE` or `ESP`.
        kind: &'static str,
        /// The proposal.
        proposal: String,
        /// What it lacks.
        what: &'static str,
    },
    /// An empty list or an empty proposal between commas.
    #[error("empty {kind} proposal")]
    Empty {
        /// `IKE` or `ESP`.
        kind: &'static str,
    },
}

const IKE_SUPPORTED: &str = "aes128gcm16 aes256gcm16 aes128 aes256, sha256 sha384 sha512, \
prfsha256 prfsha384 prfsha512, ecp256 ecp384 ecp521 curve25519 modp2048 modp3072 modp4096";
const ESP_SUPPORTED: &str = "aes128gcm16 aes256gcm16 aes128 aes256, sha256 sha384 sha512, \
ecp256 ecp384 ecp521 curve25519 modp2048 modp3072 modp4096, esn noesn";

/// One algorithm name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Encr(Encr),
    Integ(Integ),
    Prf(Prf),
    Dh(DhGroup),
    Esn(bool),
}

fn token(name: &str) -> Option<Token> {
    use Token::*;
    Some(match name.to_ascii_lowercase().as_str() {
        "aes128gcm16" | "aes128gcm128" | "aes_gcm128" => Encr(crate::crypto::Encr::AesGcm16_128),
        "aes256gcm16" | "aes256gcm128" | "aes_gcm256" => Encr(crate::crypto::Encr::AesGcm16_256),
        "aes128" => Encr(crate::crypto::Encr::AesCbc128),
        "aes256" => Encr(crate::crypto::Encr::AesCbc256),
        "sha256" | "sha2_256" => Integ(crate::crypto::Integ::HmacSha256_128),
        "sha384" | "sha2_384" => Integ(crate::crypto::Integ::HmacSha384_192),
        "sha512" | "sha2_512" => Integ(crate::crypto::Integ::HmacSha512_256),
        "prfsha256" => Prf(crate::crypto::Prf::HmacSha256),
        "prfsha384" => Prf(crate::crypto::Prf::HmacSha384),
        "prfsha512" => Prf(crate::crypto::Prf::HmacSha512),
        "ecp256" | "dh19" => Dh(DhGroup::Ecp256),
        "ecp384" | "dh20" => Dh(DhGroup::Ecp384),
        "ecp521" | "dh21" => Dh(DhGroup::Ecp521),
        "curve25519" | "x25519" | "dh31" => Dh(DhGroup::Curve25519),
        "modp2048" | "dh14" => Dh(DhGroup::Modp2048),
        "modp3072" | "dh15" => Dh(DhGroup::Modp3072),
        "modp4096" | "dh16" => Dh(DhGroup::Modp4096),
        "esn" => Esn(true),
        "noesn" => Esn(false),
        _ => return None,
    })
}

/// The PRF of the same hash as an integrity algorithm (strongSwan's rule
/// for IKE proposals without a PRF).
fn prf_of(i: Integ) -> Prf {
    match i {
        Integ::HmacSha256_128 => Prf::HmacSha256,
        Integ::HmacSha384_192 => Prf::HmacSha384,
        Integ::HmacSha512_256 => Prf::HmacSha512,
    }
}

fn push<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// The algorithms of one proposal, by type, in the order written.
#[derive(Default)]
struct Parsed {
    encr: Vec<Encr>,
    integ: Vec<Integ>,
    prf: Vec<Prf>,
    dh: Vec<DhGroup>,
    esn: Vec<bool>,
}

/// Splits `text` into its proposals and their names; `allowed` says which
/// kinds of names this list takes.
fn parse_list(
    text: &str,
    kind: &'static str,
    supported: &'static str,
    allowed: impl Fn(Token) -> bool,
) -> Result<Vec<(String, Parsed)>, ProposalTextError> {
    let text = text.trim();
    let text = text.strip_suffix('!').unwrap_or(text);
    let mut out = Vec::new();
    for proposal in text.split(',').map(str::trim) {
        if proposal.is_empty() {
            return Err(ProposalTextError::Empty { kind });
        }
        let mut p = Parsed::default();
        for name in proposal.split(['-', ';']).map(str::trim) {
            let t = token(name).filter(|t| allowed(*t)).ok_or_else(|| {
                ProposalTextError::Unsupported {
                    token: name.to_string(),
                    kind,
                    proposal: proposal.to_string(),
                    supported,
                }
            })?;
            match t {
                Token::Encr(e) => push(&mut p.encr, e),
                Token::Integ(i) => push(&mut p.integ, i),
                Token::Prf(f) => push(&mut p.prf, f),
                Token::Dh(g) => push(&mut p.dh, g),
                Token::Esn(e) => push(&mut p.esn, e),
            }
        }
        let incomplete = |what| ProposalTextError::Incomplete {
            kind,
            proposal: proposal.to_string(),
            what,
        };
        if p.encr.is_empty() {
            return Err(incomplete("encryption algorithm (e.g. aes256gcm16)"));
        }
        if p.integ.is_empty() && p.encr.iter().any(|e| !e.is_aead()) {
            return Err(incomplete(
                "integrity algorithm for its AES-CBC cipher (e.g. sha256)",
            ));
        }
        out.push((proposal.to_string(), p));
    }
    Ok(out)
}

/// IKE SA proposals from a strongSwan-style list, e.g.
/// `aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048`.
pub fn parse_ike_proposals(text: &str) -> Result<Vec<IkeProposal>, ProposalTextError> {
    const KIND: &str = "IKE";
    parse_list(text, KIND, IKE_SUPPORTED, |t| !matches!(t, Token::Esn(_)))?
        .into_iter()
        .map(|(proposal, p)| {
            let prf = if p.prf.is_empty() {
                p.integ.iter().copied().map(prf_of).collect()
            } else {
                p.prf
            };
            let incomplete = |what| ProposalTextError::Incomplete {
                kind: KIND,
                proposal: proposal.clone(),
                what,
            };
            if prf.is_empty() {
                return Err(incomplete("PRF (e.g. prfsha256)"));
            }
            if p.dh.is_empty() {
                return Err(incomplete("DH group (e.g. ecp256)"));
            }
            Ok(IkeProposal {
                encr: p.encr,
                integ: p.integ,
                prf,
                dh: p.dh,
            })
        })
        .collect()
}

/// ESP proposals from a strongSwan-style list, e.g.
/// `aes256gcm16,aes256-sha256` (a group makes it a PFS group, `esn` or
/// `noesn` fixes the ESN choice).
pub fn parse_esp_proposals(text: &str) -> Result<Vec<EspProposal>, ProposalTextError> {
    let default = EspProposal::default();
    Ok(
        parse_list(text, "ESP", ESP_SUPPORTED, |t| !matches!(t, Token::Prf(_)))?
            .into_iter()
            .map(|(_, p)| EspProposal {
                encr: p.encr,
                integ: p.integ,
                esn: if p.esn.is_empty() {
                    default.esn.clone()
                } else {
                    p.esn
                },
                dh: p.dh,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_of_the_settings() {
        let ike =
            parse_ike_proposals("aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048").unwrap();
        assert_eq!(
            ike,
            vec![
                IkeProposal {
                    encr: vec![Encr::AesGcm16_256],
                    integ: vec![],
                    prf: vec![Prf::HmacSha256],
                    dh: vec![DhGroup::Ecp256],
                },
                IkeProposal {
                    encr: vec![Encr::AesCbc256],
                    integ: vec![Integ::HmacSha256_128],
                    prf: vec![Prf::HmacSha256],
                    dh: vec![DhGroup::Modp2048],
                },
            ]
        );
        let esp = parse_esp_proposals("aes256gcm16,aes256-sha256").unwrap();
        assert_eq!(
            esp,
            vec![
                EspProposal {
                    encr: vec![Encr::AesGcm16_256],
                    integ: vec![],
                    esn: vec![true, false],
                    dh: vec![],
                },
                EspProposal {
                    encr: vec![Encr::AesCbc256],
                    integ: vec![Integ::HmacSha256_128],
                    esn: vec![true, false],
                    dh: vec![],
                },
            ]
        );
    }

    #[test]
    fn several_algorithms_of_a_type_aliases_and_separators() {
        let ike = parse_ike_proposals(
            " AES256-aes128-sha2_512-sha384-dh19-modp3072 , aes_gcm128-prfsha512-x25519;dh14! ",
        )
        .unwrap();
        assert_eq!(ike[0].encr, vec![Encr::AesCbc256, Encr::AesCbc128]);
        assert_eq!(
            ike[0].integ,
            vec![Integ::HmacSha512_256, Integ::HmacSha384_192]
        );
        assert_eq!(ike[0].prf, vec![Prf::HmacSha512, Prf::HmacSha384]);
        assert_eq!(ike[0].dh, vec![DhGroup::Ecp256, DhGroup::Modp3072]);
        assert_eq!(ike[1].encr, vec![Encr::AesGcm16_128]);
        assert_eq!(ike[1].dh, vec![DhGroup::Curve25519, DhGroup::Modp2048]);
        let esp = parse_esp_proposals("aes128gcm128-ecp384-noesn,aes256-sha512-esn-noesn").unwrap();
        assert_eq!(esp[0].dh, vec![DhGroup::Ecp384]);
        assert_eq!(esp[0].esn, vec![false]);
        assert_eq!(esp[1].esn, vec![true, false]);
    }

    #[test]
    fn refusals_name_the_token_or_proposal() {
        let cases: &[(bool, &str, &str)] = &[
            (true, "aes192-sha256-modp2048", "\"aes192\""),
            (true, "aes256-sha1-modp2048", "\"sha1\""),
            (true, "aes256gcm16-prfsha256-modp1024", "\"modp1024\""),
            (
                true,
                "chacha20poly1305-prfsha256-x25519",
                "\"chacha20poly1305\"",
            ),
            (true, "aes256gcm16-prfsha256-ecp256-esn", "\"esn\""),
            (false, "aes256gcm16-prfsha256", "\"prfsha256\""),
            (false, "3des-md5", "\"3des\""),
            (false, "aes256gcm16-", "\"\""),
            (true, "aes256-modp2048", "has no integrity algorithm"),
            (true, "aes256gcm16-ecp256", "has no PRF"),
            (true, "aes256gcm16-prfsha256", "has no DH group"),
            (false, "sha256", "has no encryption algorithm"),
            (false, "aes256gcm16,,aes256-sha256", "empty ESP proposal"),
            (true, "", "empty IKE proposal"),
        ];
        for (ike, text, want) in cases {
            let e = if *ike {
                parse_ike_proposals(text).unwrap_err()
            } else {
                parse_esp_proposals(text).unwrap_err()
            };
            let s = e.to_string();
            assert!(s.contains(want), "{text}: {s}");
            assert!(!s.contains('\n'));
        }
    }
}
