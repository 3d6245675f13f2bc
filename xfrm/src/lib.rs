//! Async client for the kernel's XFRM netlink interface (SAs, policies, events).
