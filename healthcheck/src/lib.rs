//! ICMP health checks through tunnels and RTT statistics (filled by the engine issue).
