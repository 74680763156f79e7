//! What a host does for the driver, and what the driver tells it to return.

use crate::capabilities::LogLevel;
use crate::engine::Allowed;
use crate::reply::Reply;

/// Which direction's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The request's (client to upstream).
    Request,
    /// The answer's (upstream to client).
    Response,
}

/// What a hook returns, in the driver's words; each host maps it onto its own codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop here: the stream is answered locally or held; nothing more of it goes on now.
    Stop,
    /// Stop and keep buffering what comes (a body the driver reads whole, or holds).
    Buffer,
}

/// One stream's effects, as a host carries them out inside one of its hooks. Every method
/// fails closed: `false` or `None` when the host could not.
pub trait Effects {
    /// A request header's value.
    fn request_header(&self, name: &str) -> Option<String>;
    /// Sets (`Some`) or removes (`None`) a request header.
    fn set_request_header(&mut self, name: &str, value: Option<&str>) -> bool;
    /// An answer header's value.
    fn response_header(&self, name: &str) -> Option<String>;
    /// Adds an answer header (beside any of that name).
    fn add_response_header(&mut self, name: &str, value: &str) -> bool;
    /// Sets (`Some`) or removes (`None`) an answer header.
    fn set_response_header(&mut self, name: &str, value: Option<&str>) -> bool;
    /// Answers the request locally with `reply` (a gRPC reply with its status); it goes no
    /// further.
    fn send(&mut self, reply: &Reply);
    /// Lets a request whose headers were stopped go on.
    fn resume(&mut self);
    /// Arranges for the stream to be woken when its verdict is reached (or its body is
    /// overdue); `false` when the host cannot, and the request must not wait.
    fn wait(&mut self) -> bool;
    /// How many bytes of one direction's body the host holds.
    fn body_size(&self, side: Side) -> usize;
    /// What the host holds of one direction's body; `None` when it cannot be read.
    fn body(&self, side: Side) -> Option<Vec<u8>>;
    /// A pass is about to be carried out: who was authenticated, by which provider, under
    /// which rule (the ext_authz service returns them as dynamic metadata). Most hosts have no
    /// use for it.
    fn allowed(&mut self, _allowed: &Allowed) {}
    /// Writes a log line (the failures the driver meets in the middle of a hook).
    fn log(&self, level: LogLevel, line: &str);
    /// Replaces the `held` bytes the host holds of one direction's body with `bytes`.
    fn replace_body(&mut self, side: Side, held: usize, bytes: &[u8]) -> bool;
}
