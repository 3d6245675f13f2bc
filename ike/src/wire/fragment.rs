//! Reassembly of IKE fragments (RFC 7383 section 2.6) from decrypted SKF
//! contents.
//!
//! The caller decrypts each SKF fragment (after checking its ICV), removes
//! the padding ([`unpad_plaintext`](super::unpad_plaintext)) and hands the
//! content here with the fragment's number/total and, for fragment 1, the
//! first inner payload type. One [`Reassembler`] serves one message ID.
//! The state machine uses it in `sa/fragment.rs` (one request and one
//! response per IKE SA) and [`split_for_fragments`] in `sa/sk.rs`.
//!
//! Rules applied: fragment numbers must be in `1..=total`; duplicates are
//! ignored; a fragment with a larger Total Fragments than seen so far
//! discards what was collected and starts over (PMTU discovery), one with a
//! smaller total is discarded; the number of fragments and the total bytes
//! are capped by [`ReassemblyLimits`].

use super::constants::PayloadType;
use super::sk::FragmentInfo;

/// Caps on what one reassembly may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Largest Total Fragments accepted.
    pub max_fragments: u16,
    /// Largest sum of fragment contents, in bytes.
    pub max_bytes: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_fragments: 32,
            max_bytes: 64 * 1024,
        }
    }
}

/// Why a fragment was refused or a reassembly cannot finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    /// Fragment number 0 or above the total, or total 0.
    #[error("invalid fragment {number} of {total}")]
    InvalidFragment {
        /// Fragment number.
        number: u16,
        /// Total fragments.
        total: u16,
    },
    /// Total Fragments above the limit.
    #[error("{total} fragments exceed the limit of {max}")]
    TooManyFragments {
        /// Total Fragments announced.
        total: u16,
        /// The limit.
        max: u16,
    },
    /// The contents would exceed the byte limit.
    #[error("reassembled message of {bytes} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Bytes the message would have.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Fragment 1 does not name the first inner payload.
    #[error("first fragment does not name the first inner payload")]
    MissingFirstInnerType,
    /// [`Reassembler::finish`] before every fragment arrived.
    #[error("reassembly incomplete: {received} of {total} fragments")]
    Incomplete {
        /// Fragments held.
        received: u16,
        /// Fragments expected (0 when none arrived yet).
        total: u16,
    },
}

/// What [`Reassembler::add`] did with a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// Stored; more are needed.
    Stored {
        /// Fragments held now.
        received: u16,
        /// Fragments expected.
        total: u16,
    },
    /// Stored after discarding fragments with a smaller total.
    Restarted {
        /// Fragments expected now.
        total: u16,
    },
    /// Already held; ignored.
    Duplicate,
    /// Smaller total than the current reassembly; ignored.
    Stale,
    /// Every fragment is here: call [`Reassembler::finish`].
    Complete,
}

/// Collects the fragments of one message.
#[derive(Debug, Clone, Default)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    total: u16,
    first_inner: Option<PayloadType>,
    parts: Vec<Option<Vec<u8>>>,
    received: u16,
    bytes: usize,
}

impl Reassembler {
    /// An empty reassembly with these limits.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            ..Default::default()
        }
    }

    /// Drops everything collected.
    pub fn reset(&mut self) {
        *self = Reassembler::new(self.limits);
    }

    /// Fragments held.
    pub fn received(&self) -> u16 {
        self.received
    }

    /// Total expected, once a fragment arrived.
    pub fn total(&self) -> Option<u16> {
        (self.total != 0).then_some(self.total)
    }

    /// Whether every fragment is present.
    pub fn is_complete(&self) -> bool {
        self.total != 0 && self.received == self.total
    }

    /// Adds one decrypted, unpadded fragment content. `first_inner` is the
    /// SKF Next Payload field (only meaningful in fragment 1).
    pub fn add(
        &mut self,
        fragment: FragmentInfo,
        first_inner: PayloadType,
        content: &[u8],
    ) -> Result<AddOutcome, ReassemblyError> {
        let FragmentInfo { number, total } = fragment;
        if number == 0 || total == 0 || number > total {
            return Err(ReassemblyError::InvalidFragment { number, total });
        }
        if total > self.limits.max_fragments {
            return Err(ReassemblyError::TooManyFragments {
                total,
                max: self.limits.max_fragments,
            });
        }
        if number == 1 && first_inner == PayloadType::NONE {
            return Err(ReassemblyError::MissingFirstInnerType);
        }
        let mut restarted = false;
        if self.total == 0 || total > self.total {
            restarted = self.total != 0;
            self.reset();
            self.total = total;
            self.parts = vec![None; usize::from(total)];
        } else if total < self.total {
            return Ok(AddOutcome::Stale);
        }
        let idx = usize::from(number - 1);
        let slot_taken = self.parts.get(idx).is_none_or(Option::is_some);
        if slot_taken {
            return Ok(AddOutcome::Duplicate);
        }
        let bytes = self.bytes.saturating_add(content.len());
        if bytes > self.limits.max_bytes {
            return Err(ReassemblyError::TooLarge {
                bytes,
                max: self.limits.max_bytes,
            });
        }
        if let Some(slot) = self.parts.get_mut(idx) {
            *slot = Some(content.to_vec());
        }
        self.bytes = bytes;
        self.received += 1;
        if number == 1 {
            self.first_inner = Some(first_inner);
        }
        Ok(if self.is_complete() {
            AddOutcome::Complete
        } else if restarted {
            AddOutcome::Restarted { total }
        } else {
            AddOutcome::Stored {
                received: self.received,
                total,
            }
        })
    }

    /// The first inner payload type and the reassembled inner payload
    /// bytes (decode them with [`decode_chain`](super::decode_chain)).
    /// Resets the reassembler on success.
    pub fn finish(&mut self) -> Result<(PayloadType, Vec<u8>), ReassemblyError> {
        if !self.is_complete() {
            return Err(ReassemblyError::Incomplete {
                received: self.received,
                total: self.total,
            });
        }
        let first = self
            .first_inner
            .ok_or(ReassemblyError::MissingFirstInnerType)?;
        let mut out = Vec::with_capacity(self.bytes);
        for p in self.parts.iter().flatten() {
            out.extend_from_slice(p);
        }
        self.reset();
        Ok((first, out))
    }
}

/// One fragment to send: seal `content` (padded) into an SKF payload with
/// [`SealFrame::skf`](super::SealFrame::skf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingFragment<'a> {
    /// Number and total.
    pub info: FragmentInfo,
    /// First inner payload type in fragment 1, NONE in the others.
    pub first_inner: PayloadType,
    /// This fragment's slice of the inner payload chain.
    pub content: &'a [u8],
}

/// Splits an encoded inner payload chain into fragments of at most
/// `max_content` bytes each (RFC 7383 2.5: the chain is cut anywhere, not
/// on payload boundaries). Fails if `max_content` is 0 or more than 65535
/// fragments would be needed.
pub fn split_for_fragments(
    first_inner: PayloadType,
    chain: &[u8],
    max_content: usize,
) -> Result<Vec<OutgoingFragment<'_>>, ReassemblyError> {
    if max_content == 0 {
        return Err(ReassemblyError::InvalidFragment {
            number: 0,
            total: 0,
        });
    }
    let count = chain.len().div_ceil(max_content).max(1);
    let total = u16::try_from(count).map_err(|_| ReassemblyError::TooManyFragments {
        total: u16::MAX,
        max: u16::MAX,
    })?;
    let mut out = Vec::with_capacity(count);
    let mut chunks = chain.chunks(max_content);
    for number in 1..=total {
        out.push(OutgoingFragment {
            info: FragmentInfo { number, total },
            first_inner: if number == 1 {
                first_inner
            } else {
                PayloadType::NONE
            },
            content: chunks.next().unwrap_or(&[]),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(number: u16, total: u16) -> FragmentInfo {
        FragmentInfo { number, total }
    }

    #[test]
    fn out_of_order_and_duplicates() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert!(r.finish().is_err());
        assert_eq!(
            r.add(f(3, 3), PayloadType::NONE, b"ef").unwrap(),
            AddOutcome::Stored {
                received: 1,
                total: 3
            }
        );
        assert_eq!(
            r.add(f(3, 3), PayloadType::NONE, b"ef").unwrap(),
            AddOutcome::Duplicate
        );
        assert_eq!(
            r.add(f(1, 3), PayloadType::IDI, b"ab").unwrap(),
            AddOutcome::Stored {
                received: 2,
                total: 3
            }
        );
        assert!(matches!(
            r.finish(),
            Err(ReassemblyError::Incomplete {
                received: 2,
                total: 3
            })
        ));
        assert_eq!(
            r.add(f(2, 3), PayloadType::NONE, b"cd").unwrap(),
            AddOutcome::Complete
        );
        assert_eq!(r.finish().unwrap(), (PayloadType::IDI, b"abcdef".to_vec()));
        assert_eq!(r.total(), None);
    }

    #[test]
    fn larger_total_restarts_smaller_is_stale() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        r.add(f(1, 2), PayloadType::IDI, b"x").unwrap();
        assert_eq!(
            r.add(f(2, 4), PayloadType::NONE, b"y").unwrap(),
            AddOutcome::Restarted { total: 4 }
        );
        assert_eq!(r.received(), 1);
        assert_eq!(
            r.add(f(1, 2), PayloadType::IDI, b"x").unwrap(),
            AddOutcome::Stale
        );
    }

    #[test]
    fn split_then_reassemble() {
        let chain: Vec<u8> = (0..=255).collect();
        for max in [1, 7, 100, 256, 1000] {
            let parts = split_for_fragments(PayloadType::IDI, &chain, max).unwrap();
            assert!(parts.iter().all(|p| p.content.len() <= max));
            let mut r = Reassembler::new(ReassemblyLimits {
                max_fragments: 300,
                max_bytes: 1000,
            });
            for p in parts.iter().rev() {
                r.add(p.info, p.first_inner, p.content).unwrap();
            }
            assert_eq!(r.finish().unwrap(), (PayloadType::IDI, chain.clone()));
        }
        assert!(split_for_fragments(PayloadType::IDI, &chain, 0).is_err());
        let one = split_for_fragments(PayloadType::NONE, &[], 10).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].info, f(1, 1));
    }

    #[test]
    fn limits() {
        let mut r = Reassembler::new(ReassemblyLimits {
            max_fragments: 4,
            max_bytes: 5,
        });
        assert!(matches!(
            r.add(f(1, 5), PayloadType::IDI, b""),
            Err(ReassemblyError::TooManyFragments { .. })
        ));
        assert!(matches!(
            r.add(f(0, 2), PayloadType::IDI, b""),
            Err(ReassemblyError::InvalidFragment { .. })
        ));
        assert!(matches!(
            r.add(f(3, 2), PayloadType::IDI, b""),
            Err(ReassemblyError::InvalidFragment { .. })
        ));
        assert!(matches!(
            r.add(f(1, 2), PayloadType::NONE, b""),
            Err(ReassemblyError::MissingFirstInnerType)
        ));
        r.add(f(1, 2), PayloadType::IDI, b"abc").unwrap();
        assert!(matches!(
            r.add(f(2, 2), PayloadType::NONE, b"def"),
            Err(ReassemblyError::TooLarge { bytes: 6, max: 5 })
        ));
        assert_eq!(
            r.add(f(2, 2), PayloadType::NONE, b"de").unwrap(),
            AddOutcome::Complete
        );
    }
}
