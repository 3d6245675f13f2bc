//! NAT detection hashes (RFC 7296 section 2.23).
//!
//! `NAT_DETECTION_SOURCE_IP` / `NAT_DETECTION_DESTINATION_IP` notify data is
//! `SHA-1(SPIi | SPIr | IP address | port)`, with the SPIs as the 8-byte
//! wire values (SPIr is all zeros in the first IKE_SA_INIT request), the
//! address as 4 (IPv4) or 16 (IPv6) bytes and the port as 2 bytes, all in
//! network order. IPv4-mapped IPv6 addresses (as a dual-stack socket reports
//! IPv4 peers) are hashed as the IPv4 address they stand for, since that is
//! what went over the wire. NAT-D hashes are public values: comparing them
//! needs no constant time.

use std::net::IpAddr;

use ring::digest;

/// Length of a NAT detection hash (SHA-1 output).
pub const NAT_DETECTION_HASH_LEN: usize = 20;

/// The NAT-D hash of `addr`:`port` for the IKE SA `spi_i`/`spi_r`.
pub fn nat_detection_hash(
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    addr: IpAddr,
    port: u16,
) -> [u8; NAT_DETECTION_HASH_LEN] {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(spi_i);
    ctx.update(spi_r);
    match addr.to_canonical() {
        IpAddr::V4(v4) => ctx.update(&v4.octets()),
        IpAddr::V6(v6) => ctx.update(&v6.octets()),
    }
    ctx.update(&port.to_be_bytes());
    let mut out = [0u8; NAT_DETECTION_HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Whether `received` notify data equals the hash of `addr`:`port`.
pub fn nat_detection_matches(
    received: &[u8],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    addr: IpAddr,
    port: u16,
) -> bool {
    received == nat_detection_hash(spi_i, spi_r, addr, port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn hash_input_layout() {
        let spi_i = [1, 2, 3, 4, 5, 6, 7, 8];
        let spi_r = [0; 8];
        let v4 = Ipv4Addr::new(192, 0, 2, 1);
        let mut input = Vec::new();
        input.extend_from_slice(&spi_i);
        input.extend_from_slice(&spi_r);
        input.extend_from_slice(&[192, 0, 2, 1, 0x11, 0x94]);
        let expected = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
        let got = nat_detection_hash(&spi_i, &spi_r, IpAddr::V4(v4), 4500);
        assert_eq!(&got[..], expected.as_ref());
        // A v4-mapped v6 address hashes like the v4 address.
        let mapped = IpAddr::V6(v4.to_ipv6_mapped());
        assert_eq!(nat_detection_hash(&spi_i, &spi_r, mapped, 4500), got);
        assert!(nat_detection_matches(
            &got,
            &spi_i,
            &spi_r,
            IpAddr::V4(v4),
            4500
        ));
        assert!(!nat_detection_matches(
            &got,
            &spi_i,
            &spi_r,
            IpAddr::V4(v4),
            500
        ));
        assert!(!nat_detection_matches(
            &got[..19],
            &spi_i,
            &spi_r,
            IpAddr::V4(v4),
            4500
        ));

        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut input = Vec::new();
        input.extend_from_slice(&spi_i);
        input.extend_from_slice(&[9; 8]);
        input.extend_from_slice(&v6.octets());
        input.extend_from_slice(&500u16.to_be_bytes());
        let expected = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
        let got = nat_detection_hash(&spi_i, &[9; 8], IpAddr::V6(v6), 500);
        assert_eq!(&got[..], expected.as_ref());
    }
}
