//! Upstream price sources (Tibber GraphQL, the offline demo market) and the
//! fetch coordinator. Only this module does network I/O to the upstream.
