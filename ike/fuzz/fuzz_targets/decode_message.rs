//! Fuzz target: every decoding entry point of `ike::wire` on arbitrary
//! bytes. Nothing may panic; whatever decodes must re-encode, and the
//! re-encoded bytes must decode to the same value.
#![no_main]

use ike::wire::{
    classify_natt, decode_chain, unpad_plaintext, EncryptedView, FragmentInfo, Message,
    NattDatagram, PayloadType, Reassembler, ReassemblyLimits,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A whole datagram, as received on port 500.
    if let Ok(msg) = Message::decode(data) {
        let bytes = msg.encode().expect("a decoded message re-encodes");
        let again = Message::decode(&bytes).expect("a re-encoded message decodes");
        assert_eq!(again.payloads, msg.payloads);
        assert_eq!(again.header.spi_i, msg.header.spi_i);
        assert_eq!(again.header.message_id, msg.header.message_id);
    }
    let _ = EncryptedView::parse(data);

    // The same bytes as received on port 4500.
    if let Ok(NattDatagram::Ike(ike)) = classify_natt(data) {
        let _ = Message::decode(ike);
    }

    // The first byte picks a payload type; the rest is a bare chain, as
    // found inside a decrypted SK payload.
    if let Some((&first, rest)) = data.split_first() {
        if let Ok(payloads) = decode_chain(PayloadType(first), rest) {
            let (t, bytes) =
                ike::wire::encode_chain(&payloads).expect("a decoded chain re-encodes");
            assert_eq!(
                decode_chain(t, &bytes).expect("re-encoded chain decodes"),
                payloads
            );
        }
        let _ = unpad_plaintext(rest);
    }

    // Splitting for SKF and reassembling gives the chain back.
    if let Some((&size, rest)) = data.split_first() {
        if let Ok(parts) = ike::wire::split_for_fragments(PayloadType::SA, rest, usize::from(size))
        {
            let mut r = Reassembler::new(ReassemblyLimits {
                max_fragments: u16::MAX,
                max_bytes: usize::MAX,
            });
            for p in parts.iter().rev() {
                r.add(p.info, p.first_inner, p.content)
                    .expect("own fragments are accepted");
            }
            assert_eq!(
                r.finish().expect("complete"),
                (PayloadType::SA, rest.to_vec())
            );
        }
    }

    // Fragments: 6-byte records (number, total) with small contents.
    let mut r = Reassembler::new(ReassemblyLimits {
        max_fragments: 8,
        max_bytes: 256,
    });
    for chunk in data.chunks(6) {
        if let [a, b, c, d, e, f] = *chunk {
            let info = FragmentInfo {
                number: u16::from_be_bytes([a, b]),
                total: u16::from_be_bytes([c, d]),
            };
            let _ = r.add(info, PayloadType(e), &[f]);
            if r.is_complete() {
                let _ = r.finish();
            }
        }
    }
});
