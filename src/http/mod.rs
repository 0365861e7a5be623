//! HTTP/1.1 for request forwarding and the ingress, sans-IO: the request head a client
//! sends (`request`), the response head an upstream sends (`response`), the chunked
//! coding (`chunked`) and the ingress's routes (`route`). No sockets here; the loop
//! (daemon/ingress.rs) and the workers (daemon/forward.rs) do the I/O. These parsers
//! are the target of the `http_request` fuzz harness.

pub mod chunked;
pub mod request;
pub mod response;
pub mod route;
