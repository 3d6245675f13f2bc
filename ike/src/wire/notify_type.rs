//! Notify message types (RFC 7296 section 3.10.1 and the IANA "Notify
//! Message Error Types" / "Notify Message Status Types" registries).
//!
//! Types below 16384 are errors, 16384 and above are status types.

registry! {
    /// Notify message type.
    NotifyType(u16) {
        // ---- error types ----
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        INVALID_IKE_SPI = 4,
        INVALID_MAJOR_VERSION = 5,
        INVALID_SYNTAX = 7,
        INVALID_MESSAGE_ID = 9,
        INVALID_SPI = 11,
        NO_PROPOSAL_CHOSEN = 14,
        INVALID_KE_PAYLOAD = 17,
        AUTHENTICATION_FAILED = 24,
        SINGLE_PAIR_REQUIRED = 34,
        NO_ADDITIONAL_SAS = 35,
        INTERNAL_ADDRESS_FAILURE = 36,
        FAILED_CP_REQUIRED = 37,
        TS_UNACCEPTABLE = 38,
        INVALID_SELECTORS = 39,
        /// RFC 4555.
        UNACCEPTABLE_ADDRESSES = 40,
        /// RFC 4555.
        UNEXPECTED_NAT_DETECTED = 41,
        /// RFC 5026.
        USE_ASSIGNED_HOA = 42,
        TEMPORARY_FAILURE = 43,
        CHILD_SA_NOT_FOUND = 44,
        // ---- status types ----
        INITIAL_CONTACT = 16384,
        SET_WINDOW_SIZE = 16385,
        ADDITIONAL_TS_POSSIBLE = 16386,
        IPCOMP_SUPPORTED = 16387,
        NAT_DETECTION_SOURCE_IP = 16388,
        NAT_DETECTION_DESTINATION_IP = 16389,
        COOKIE = 16390,
        USE_TRANSPORT_MODE = 16391,
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        REKEY_SA = 16393,
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        /// RFC 4555.
        MOBIKE_SUPPORTED = 16396,
        ADDITIONAL_IP4_ADDRESS = 16397,
        ADDITIONAL_IP6_ADDRESS = 16398,
        NO_ADDITIONAL_ADDRESSES = 16399,
        UPDATE_SA_ADDRESSES = 16400,
        COOKIE2 = 16401,
        NO_NATS_ALLOWED = 16402,
        /// RFC 4478.
        AUTH_LIFETIME = 16403,
        /// RFC 4739.
        MULTIPLE_AUTH_SUPPORTED = 16404,
        ANOTHER_AUTH_FOLLOWS = 16405,
        /// RFC 5685.
        REDIRECT_SUPPORTED = 16406,
        REDIRECT = 16407,
        REDIRECTED_FROM = 16408,
        /// RFC 5723.
        TICKET_LT_OPAQUE = 16409,
        TICKET_REQUEST = 16410,
        TICKET_ACK = 16411,
        TICKET_NACK = 16412,
        TICKET_OPAQUE = 16413,
        /// RFC 5739.
        LINK_ID = 16414,
        /// RFC 5840.
        USE_WESP_MODE = 16415,
        /// RFC 5857.
        ROHC_SUPPORTED = 16416,
        /// RFC 5998.
        EAP_ONLY_AUTHENTICATION = 16417,
        /// RFC 6023.
        CHILDLESS_IKEV2_SUPPORTED = 16418,
        /// RFC 6290.
        QUICK_CRASH_DETECTION = 16419,
        /// RFC 6311.
        IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
        IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421,
        IKEV2_MESSAGE_ID_SYNC = 16422,
        IPSEC_REPLAY_COUNTER_SYNC = 16423,
        /// RFC 6467.
        SECURE_PASSWORD_METHODS = 16424,
        /// RFC 6631.
        PSK_PERSIST = 16425,
        PSK_CONFIRM = 16426,
        /// RFC 6867.
        ERX_SUPPORTED = 16427,
        IFOM_CAPABILITY = 16428,
        SENDER_REQUEST_ID = 16429,
        /// RFC 7383.
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        /// RFC 7427.
        SIGNATURE_HASH_ALGORITHMS = 16431,
        /// RFC 7791.
        CLONE_IKE_SA_SUPPORTED = 16432,
        CLONE_IKE_SA = 16433,
        /// RFC 8019.
        PUZZLE = 16434,
        /// RFC 8784.
        USE_PPK = 16435,
        PPK_IDENTITY = 16436,
        NO_PPK_AUTH = 16437,
        /// RFC 9242.
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438,
    }
}

impl NotifyType {
    /// First status type; everything below is an error type.
    pub const FIRST_STATUS: u16 = 16384;

    /// Whether this is an error type (0..=16383). RFC 7296 3.10.1: an
    /// unrecognised error type in a response means the request failed.
    pub fn is_error(self) -> bool {
        self.0 < Self::FIRST_STATUS
    }

    /// Whether this is a status type (16384..). Unrecognised status types
    /// MUST be ignored.
    pub fn is_status(self) -> bool {
        !self.is_error()
    }
}
