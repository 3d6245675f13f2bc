//! IANA number spaces of IKEv2 (RFC 7296 section 3 and the IANA "IKEv2
//! Parameters" registry), except transforms (`transform_ids.rs`) and notify
//! types (`notify_type.rs`).
//!
//! Every type is a newtype over the wire integer: unknown values are kept as
//! they are, and `From` converts both ways.

registry! {
    /// IKEv2 exchange type (header byte 18).
    ExchangeType(u8) {
        IKE_SA_INIT = 34,
        IKE_AUTH = 35,
        CREATE_CHILD_SA = 36,
        INFORMATIONAL = 37,
        /// RFC 5723.
        IKE_SESSION_RESUME = 38,
        /// RFC 9242.
        IKE_INTERMEDIATE = 43,
        /// RFC 9370.
        IKE_FOLLOWUP_KE = 44,
    }
}

registry! {
    /// IKEv2 payload type ("Next Payload" values).
    PayloadType(u8) {
        /// No next payload (end of chain).
        NONE = 0,
        /// Security Association.
        SA = 33,
        /// Key Exchange.
        KE = 34,
        /// Identification - Initiator.
        IDI = 35,
        /// Identification - Responder.
        IDR = 36,
        /// Certificate.
        CERT = 37,
        /// Certificate Request.
        CERTREQ = 38,
        /// Authentication.
        AUTH = 39,
        /// Nonce (Ni, Nr).
        NONCE = 40,
        /// Notify.
        NOTIFY = 41,
        /// Delete.
        DELETE = 42,
        /// Vendor ID.
        VENDOR_ID = 43,
        /// Traffic Selector - Initiator.
        TSI = 44,
        /// Traffic Selector - Responder.
        TSR = 45,
        /// Encrypted and Authenticated.
        SK = 46,
        /// Configuration.
        CP = 47,
        /// Extensible Authentication.
        EAP = 48,
        /// Generic Secure Password Methods (RFC 6467).
        GSPM = 49,
        /// Encrypted and Authenticated Fragment (RFC 7383).
        SKF = 53,
    }
}

registry! {
    /// Security protocol identifier (proposals, Notify, Delete).
    ProtocolId(u8) {
        /// No protocol (Notify about no particular SA).
        NONE = 0,
        IKE = 1,
        AH = 2,
        ESP = 3,
    }
}

registry! {
    /// Identification payload ID type (RFC 7296 section 3.5).
    IdType(u8) {
        IPV4_ADDR = 1,
        FQDN = 2,
        RFC822_ADDR = 3,
        IPV6_ADDR = 5,
        DER_ASN1_DN = 9,
        DER_ASN1_GN = 10,
        KEY_ID = 11,
        /// RFC 4595.
        FC_NAME = 12,
        /// RFC 7619.
        NULL = 13,
    }
}

registry! {
    /// Authentication method (RFC 7296 section 3.8).
    AuthMethod(u8) {
        RSA_SIG = 1,
        /// Shared Key Message Integrity Code (PSK).
        SHARED_KEY_MIC = 2,
        DSS_SIG = 3,
        /// RFC 4754.
        ECDSA_SHA256_P256 = 9,
        /// RFC 4754.
        ECDSA_SHA384_P384 = 10,
        /// RFC 4754.
        ECDSA_SHA512_P521 = 11,
        /// RFC 6467.
        GSPAM = 12,
        /// RFC 7619.
        NULL = 13,
        /// RFC 7427.
        DIGITAL_SIGNATURE = 14,
    }
}

registry! {
    /// Traffic selector type (RFC 7296 section 3.13.1).
    TsType(u8) {
        IPV4_ADDR_RANGE = 7,
        IPV6_ADDR_RANGE = 8,
        /// RFC 4595.
        FC_ADDR_RANGE = 9,
        /// RFC 9478.
        SECLABEL = 10,
    }
}

registry! {
    /// Configuration payload CFG type (RFC 7296 section 3.15).
    CfgType(u8) {
        REQUEST = 1,
        REPLY = 2,
        SET = 3,
        ACK = 4,
    }
}

registry! {
    /// Certificate encoding (CERT and CERTREQ payloads).
    CertEncoding(u8) {
        PKCS7_X509 = 1,
        PGP = 2,
        DNS_SIGNED_KEY = 3,
        X509_SIGNATURE = 4,
        KERBEROS_TOKEN = 6,
        CRL = 7,
        ARL = 8,
        SPKI = 9,
        X509_ATTRIBUTE = 10,
        RAW_RSA_KEY = 11,
        HASH_URL_X509_CERT = 12,
        HASH_URL_X509_BUNDLE = 13,
        /// RFC 4806.
        OCSP_CONTENT = 14,
        /// RFC 7670.
        RAW_PUBLIC_KEY = 15,
    }
}
